// The daemon commands: usage errors exit 2 before anything starts, and real processes started by
// `warren cluster init` form a cluster that elects a new leader after a kill -9 of its leader, with
// the killed manager coming back by `warren manager start` on its data directory; managers join a
// running cluster and are removed from it (refused when the voters left could not commit; a live
// manager removed stops and its data directory refuses to start again).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../grpc/api-client.ts';
import { main } from './main.ts';

const root = mkdtempSync(join(tmpdir(), 'warren-cli-daemon-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(argv, { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } });
  return { code, err };
}

test('bad daemon options exit 2 naming the option and what is expected, starting nothing', async () => {
  const cases: [string[], RegExp][] = [
    [['cluster', 'init', '--id', 'M1', '--data-dir', join(root, 'x')], /--id.*expected a node id/],
    [['cluster', 'init', '--id', 'm1', '--data-dir', join(root, 'x'), '--listen', 'nowhere'], /--listen.*expected HOST:PORT/],
    [['cluster', 'init', '--id', 'm1', '--data-dir', join(root, 'x'), '--peers', 'm2=10.0.0.2'], /--peers.*"m2=10.0.0.2" is not ID=HOST:PORT/],
    [['cluster', 'init', '--id', 'm1'], /--data-dir/],
    [['cluster', 'init', '--id', 'm1', '--data-dir', join(root, 'x'), '--peers', 'm2=h:1'], /--peers needs --secret-key-file/],
    [['cluster', 'init', '--id', 'm1', '--data-dir', join(root, 'x'), '--peers', 'm2=h:1', '--secret-key-file', join(root, 'nokey')], /--secret-key-file: .*nokey/],
    [['worker', 'start', '--id', 'w1', '--data-dir', join(root, 'w')], /--managers/],
    [['worker', 'start', '--id', 'w1', '--data-dir', join(root, 'w'), '--managers', 'm1=h:1', '--memory-mb', '0'], /--memory-mb.*positive integer/],
  ];
  for (const [argv, expected] of cases) {
    const { code, err } = await run(argv);
    assert.equal(code, 2, `${argv.join(' ')}: ${err}`);
    assert.match(err, expected);
  }
  // A manager restart on an empty directory refuses rather than founding a new cluster...
  const empty = await run(['manager', 'start', '--id', 'm1', '--data-dir', join(root, 'empty')]);
  assert.equal(empty.code, 2);
  assert.match(empty.err, /holds no manager state; start a new cluster with warren cluster init/);
  // ...and init refuses a directory that has state.
  mkdirSync(join(root, 'used'));
  writeFileSync(join(root, 'used', 'wal-1.log'), '');
  const used = await run(['cluster', 'init', '--id', 'm1', '--data-dir', join(root, 'used')]);
  assert.equal(used.code, 2);
  assert.match(used.err, /is not empty: this manager has started before; use warren manager start/);
});

const bin = new URL('../../bin/warren.mjs', import.meta.url).pathname;

interface Daemon {
  child: ChildProcess;
  events: Record<string, unknown>[];
}

function start(args: string[]): Daemon {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const d: Daemon = { child, events: [] };
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        d.events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  return d;
}

let readyCount = 0;

async function until(what: string, check: () => boolean, timeoutMs = 20_000, sample?: () => Promise<void>): Promise<void> {
  const startMs = Date.now();
  while ((await sample?.().catch(() => {}), !check())) {
    if (Date.now() - startMs > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The daemon's exit code, once it has exited. */
const exitCode = (d: Daemon): Promise<number | null> => new Promise((r) => (d.child.exitCode !== null ? r(d.child.exitCode) : d.child.on('exit', (code) => r(code))));

const lastRole = (d: Daemon) => [...d.events].reverse().find((e) => e.event === 'role') as { role: string; term: number } | undefined;

test('three managers started by warren cluster init elect a leader, survive kill -9 of it, and the killed one rejoins', { timeout: 90_000 }, async () => {
  const base = 17400 + (process.pid % 200) * 2;
  const ids = ['m1', 'm2', 'm3'];
  const raft = (i: number) => `127.0.0.1:${base + i * 10}`;
  const metrics = (i: number) => `127.0.0.1:${base + i * 10 + 1}`;
  const keyFile = join(root, 'cluster.key');
  writeFileSync(keyFile, randomBytes(32).toString('hex'));
  const argsOf = (i: number) => ['--id', ids[i]!, '--data-dir', join(root, ids[i]!), '--listen', raft(i), '--metrics-listen', metrics(i),
    '--peers', ids.map((id, j) => (j === i ? null : `${id}=${raft(j)}`)).filter(Boolean).join(',')];
  const daemons = ids.map((_, i) => start(['cluster', 'init', ...argsOf(i), '--secret-key-file', keyFile]));
  await until('a leader', () => daemons.some((d) => lastRole(d)?.role === 'leader'));
  // Every manager serves the client API on its one port (a follower answers reads itself) and its health port.
  const client = new ApiClient({ addresses: [raft(0)] });
  const info = await client.call('ClusterInfo', {});
  client.close();
  assert.deepEqual(info.managers.map((m) => m.apiAddress), ids.map((_, i) => raft(i)));
  assert.ok(info.leader !== null && ids.includes(info.leader.id));
  await until('every manager ready', () => readyCount === 3, 10_000, async () => {
    readyCount = 0;
    for (let i = 0; i < 3; i++) if ((await fetch(`http://${metrics(i)}/ready`)).status === 200) readyCount++;
  });
  const health = (await (await fetch(`http://${metrics(0)}/health`)).json()) as { status: string; components: Record<string, unknown> };
  assert.equal(health.status, 'healthy');
  assert.deepEqual(Object.keys(health.components).sort(), ['api', 'raft', 'storage', 'transport']);
  assert.match(await (await fetch(`http://${metrics(0)}/metrics`)).text(), /warren_raft_term\{node_id="m1"\} \d+/);
  const leaderIndex = daemons.findIndex((d) => lastRole(d)?.role === 'leader');
  const oldTerm = lastRole(daemons[leaderIndex]!)!.term;
  daemons[leaderIndex]!.child.kill('SIGKILL');
  const others = daemons.filter((_, i) => i !== leaderIndex);
  await until('a new leader in a later term', () => others.some((d) => lastRole(d)?.role === 'leader' && lastRole(d)!.term > oldTerm));
  const back = start(['manager', 'start', ...argsOf(leaderIndex)]);
  await until('the killed manager restarted from its disk and follows', () => back.events.some((e) => e.event === 'started') && lastRole(back)?.role === 'follower');
  const newTerm = Math.max(...others.map((d) => lastRole(d)?.term ?? 0));
  assert.ok(lastRole(back)!.term >= newTerm, 'it follows the new leader\'s term');
  // SIGTERM stops every daemon with exit code 0.
  for (const d of [...others, back]) d.child.kill('SIGTERM');
  const codes = await Promise.all([...others, back].map(exitCode));
  assert.deepEqual(codes, [0, 0, 0]);
});

test('warren manager join grows a one-manager cluster to three voters that survive the loss of the founder; warren manager rm removes it', { timeout: 90_000 }, async () => {
  const base = 18400 + (process.pid % 200) * 2;
  const ids = ['j1', 'j2', 'j3'];
  const listen = (i: number) => `127.0.0.1:${base + i * 10}`;
  const argsOf = (i: number) => ['--id', ids[i]!, '--data-dir', join(root, ids[i]!), '--listen', listen(i), '--metrics-listen', `127.0.0.1:${base + i * 10 + 1}`];
  const founder = start(['cluster', 'init', ...argsOf(0)]);
  await until('the founder leads', () => lastRole(founder)?.role === 'leader');
  const keyFile = join(root, 'j1', 'cluster.key');
  // A manager without the cluster's key is refused and changes nothing.
  const wrongKey = join(root, 'wrong.key');
  writeFileSync(wrongKey, randomBytes(32).toString('hex'));
  const refused = start(['manager', 'join', ...argsOf(1), '--join', listen(0), '--secret-key-file', wrongKey]);
  const refusedCode = await exitCode(refused);
  assert.equal(refusedCode, 1);
  const joiners = [1, 2].map((i) => start(['manager', 'join', ...argsOf(i), '--join', listen(0), '--secret-key-file', keyFile]));
  const client = new ApiClient({ addresses: [listen(0)] });
  await until('three managers known', () => managerCount === 3, 30_000, async () => {
    managerCount = (await client.call('ClusterInfo', {})).managers.length;
  });
  client.close();
  await until('both joiners follow', () => joiners.every((d) => lastRole(d)?.role === 'follower'));
  // Once promoted, the two joiners are a quorum on their own: the founder's loss elects one of them.
  await new Promise((r) => setTimeout(r, 1500));
  founder.child.kill('SIGKILL');
  await until('a joiner leads', () => joiners.some((d) => lastRole(d)?.role === 'leader'), 30_000);
  const survivors = new ApiClient({ addresses: [listen(1), listen(2)] });
  const created = await survivors.call('SecretCreate', { name: 'after-founder', value: 'v' });
  assert.equal(created.secret?.name, 'after-founder');

  // warren manager rm: removing a live voter now would leave j1 (dead) and one other: refused.
  const managersFlag = ['--managers', `${listen(1)},${listen(2)}`];
  const live = joiners.findIndex((d) => lastRole(d)?.role !== 'leader') + 1; // the joiner that does not lead
  const refusedRm = await run(['manager', 'rm', ids[live]!, ...managersFlag]);
  assert.equal(refusedRm.code, 1);
  assert.match(refusedRm.err, new RegExp(`^warren: FAILED_PRECONDITION: removing manager ${ids[live]} would leave 2 voters \\(.*\\) of which j1 cannot be reached, so no majority could commit; bring it back \\(or remove it\\) first\n`));
  // The dead founder is removed; it is no longer a member, and the two left still commit.
  assert.deepEqual(await run(['manager', 'rm', 'j1', ...managersFlag]), { code: 0, err: '' });
  assert.deepEqual((await survivors.call('ClusterInfo', {})).managers.map((m) => m.id), ['j2', 'j3']);
  const again = await run(['manager', 'rm', 'j1', ...managersFlag]);
  assert.equal(again.code, 1);
  assert.match(again.err, /^warren: NOT_FOUND: manager j1 is not a member of the cluster \(its members are j2, j3\)\n/);
  await survivors.call('SecretCreate', { name: 'after-removal', value: 'v' });
  // A live manager that is removed stops by itself (exit 0), and its data directory refuses to start again.
  assert.deepEqual(await run(['manager', 'rm', ids[live]!, ...managersFlag]), { code: 0, err: '' });
  const removedCode = await exitCode(joiners[live - 1]!);
  assert.equal(removedCode, 0);
  assert.ok(joiners[live - 1]!.events.some((e) => e.event === 'removed'));
  const restart = await run(['manager', 'start', ...argsOf(live)]);
  assert.equal(restart.code, 1);
  assert.match(restart.err, new RegExp(`manager ${ids[live]} was removed from its cluster at .*; this data directory cannot serve again: start a new manager with an empty --data-dir and warren manager join \\(under a new id\\)`));
  const last = joiners[2 - live]!;
  await until('the last manager leads alone', () => lastRole(last)?.role === 'leader', 10_000);
  assert.equal((await survivors.call('SecretCreate', { name: 'alone', value: 'v' })).servedBy, ids[3 - live]);
  survivors.close();
  last.child.kill('SIGTERM');
  const code = await exitCode(last);
  assert.equal(code, 0);
});

let managerCount = 0;
