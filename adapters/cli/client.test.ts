// The client commands against three in-process managers serving the real client API: what each
// command prints (Docker's columns), what it changes (read back through the API), that bad input
// exits 2 and changes nothing, that a server's refusal exits 1 with its status and message, that a
// write whose outcome is unknown says to look before retrying, that a secret's value is never
// printed, and that `warren events` streams a service's creation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { NodeId, StateCommand, TaskId } from '../../core/state/index.ts';
import type { ApiClient } from '../grpc/api-client.ts';
import { apiServiceDefinition, unaryMethods } from '../grpc/api-service.ts';
import { TestCluster } from '../grpc/api-testing.ts';
import type { ClientIo } from './client.ts';
import { main } from './main.ts';

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

let cluster: TestCluster;
let api: ApiClient;
let managers: string;
const dir = mkdtempSync(join(tmpdir(), 'warren-cli-client-'));

before(async () => {
  cluster = await TestCluster.start({ size: 3 });
  // Followers first: every write is relayed to the leader.
  const ordered = [...cluster.followers(), cluster.leader()!];
  managers = ordered.map((m) => m.apiAddress).join(',');
  api = cluster.client(ordered.map((m) => m.apiAddress));
});
after(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `warren COMMAND --managers ... ARGS...`; COMMAND is the command's words, e.g. 'service create'. */
async function warren(command: string, args: readonly string[] = [], extra: Partial<ClientIo> = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const io: ClientIo = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env: {}, ...extra };
  const code = await main([...command.split(' '), '--managers', managers, ...args], io);
  return { code, out, err };
}

/** A table's lines as cells (columns are at least three spaces apart; no cell has two spaces in a row). */
const cells = (text: string): string[][] => text.trimEnd().split('\n').map((line) => line.split(/ {2,}/).map((c) => c.trim()));

const register = (id: string, name: string, role: 'worker' | 'manager' = 'worker'): StateCommand => ({
  type: 'node-register', id: id as NodeId, name, role, resources: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, labels: {}, address: '10.0.0.9:7000', atUs: Date.now() * 1000,
});

async function propose(command: StateCommand): Promise<void> {
  assert.deepEqual(await cluster.leader()!.proposeInternal(command), { ok: true }, command.type);
}

describe('services', () => {
  let id = '';

  test('create prints the id and sends every flag as the spec field it names', async () => {
    const created = await warren('service create', [
      '--name', 'web', '--replicas', '2', '-e', 'GREETING=hello=world', '--publish', '8080:80', '--constraint', 'node.role==worker',
      '--limit-memory', '512M', '--reserve-cpu', '0.25', '--update-delay', '1m30s', '--update-failure-action', 'rollback',
      '--health-http', '8080/healthz', '--health-interval', '5s', '--health-timeout', '2s', '--stop-grace-period', '20s',
      'process:sleep', '1000', '--not-an-option-but-an-arg',
    ]);
    assert.equal(created.code, 0, created.err);
    assert.match(created.out, /^[0-9a-f]{20}\n$/);
    id = created.out.trim();
    const { spec } = (await api.serviceInspect({ id, leaderOnly: true })).service;
    assert.equal(spec.image, 'process:sleep');
    assert.deepEqual(spec.args, ['1000', '--not-an-option-but-an-arg'], 'what follows IMAGE is the tasks\' arguments');
    assert.deepEqual(spec.env, { GREETING: 'hello=world' });
    assert.deepEqual(spec.mode, { type: 'replicated', replicas: 2 });
    assert.deepEqual(spec.ports, [{ target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' }]);
    assert.deepEqual(spec.placement.constraints, ['node.role==worker']);
    assert.equal(spec.limits.memoryBytes, 512 * 2 ** 20);
    assert.equal(spec.reservations.cpuMillis, 250);
    assert.equal(spec.update.delayMs, 90_000);
    assert.equal(spec.update.failureAction, 'rollback');
    assert.deepEqual(spec.healthCheck, { type: 'http', port: 8080, path: '/healthz', intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 0 });
    assert.equal(spec.stopGracePeriodMs, 20_000);
  });

  test('ls shows Docker\'s columns with running/desired replicas; ps shows the tasks', async () => {
    await propose(register('w1', 'edge-1'));
    await cluster.waitFor('both tasks assigned', () => cluster.leader()!.state().tasksOfService(id as never).filter((t) => t.observedState === 'assigned').length === 2);
    const [first] = cluster.leader()!.state().tasksOfService(id as never);
    await propose({ type: 'task-report', taskId: first!.id as TaskId, state: 'running', exitCode: null, message: '', atUs: Date.now() * 1000 });
    await cluster.waitFor('every manager applied the report', () => cluster.members.every((m) => m.state().task(first!.id)?.observedState === 'running'));

    const ls = await warren('service ls');
    assert.equal(ls.code, 0, ls.err);
    assert.deepEqual(cells(ls.out), [['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], [id, 'web', 'replicated', '1/2', 'process:sleep', '*:8080->80/tcp']]);
    assert.equal((await warren('service ls', ['-q'])).out, `${id}\n`);
    const asJson = JSON.parse((await warren('service ls', ['--json'])).out) as { id: string }[];
    assert.deepEqual(asJson.map((s) => s.id), [id]);

    const ps = await warren('service ps', ['web']);
    assert.equal(ps.code, 0, ps.err);
    const rows = cells(ps.out);
    assert.deepEqual(rows[0], ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR']);
    assert.deepEqual(rows.slice(1).map((r) => r.slice(1, 5)), [['web.1', 'process:sleep', 'edge-1', 'Running'], ['web.2', 'process:sleep', 'edge-1', 'Running']]);
    assert.deepEqual(rows.slice(1).map((r) => r[5]!.split(' ')[0]).sort(), ['Assigned', 'Running']);
    const tasks = await warren('task ls', ['--service', 'web', '-q']);
    assert.deepEqual(tasks.out.trim().split('\n').sort(), rows.slice(1).map((r) => r[0]).sort());
  });

  test('scale, update, inspect, rollback and rm change the service as asked', async () => {
    const scaled = await warren('service scale', ['web=3']);
    assert.deepEqual([scaled.code, scaled.out], [0, 'web scaled to 3\n'], scaled.err);
    assert.deepEqual((await api.serviceInspect({ id, leaderOnly: true })).service.spec.mode, { type: 'replicated', replicas: 3 });

    const updated = await warren('service update', ['--image', 'process:true', '--env-add', 'B=2', '--env-rm', 'GREETING', '--update-parallelism', '2', '--constraint-rm', 'node.role==worker', 'web']);
    assert.equal(updated.code, 0, updated.err);
    const after = (await api.serviceInspect({ id, leaderOnly: true })).service;
    assert.equal(after.spec.image, 'process:true');
    assert.deepEqual(after.spec.env, { B: '2' });
    assert.equal(after.spec.update.parallelism, 2);
    assert.deepEqual(after.spec.placement.constraints, []);
    assert.deepEqual(after.spec.ports, [{ target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' }], 'what no flag names is kept');
    assert.equal(after.specVersion, 2);

    const inspected = await warren('service inspect', ['web']);
    assert.equal(inspected.code, 0, inspected.err);
    const [shown] = JSON.parse(inspected.out) as { id: string; spec: { image: string }; previousSpec: { image: string } }[];
    assert.deepEqual([shown!.id, shown!.spec.image, shown!.previousSpec.image], [id, 'process:true', 'process:sleep']);

    assert.equal((await warren('service update', ['--rollback', 'web'])).code, 0);
    const rolledBack = (await api.serviceInspect({ id, leaderOnly: true })).service;
    assert.equal(rolledBack.spec.image, 'process:sleep');
    assert.equal(rolledBack.updateStatus?.state, 'rolling-back');

    const removed = await warren('service rm', ['web']);
    assert.deepEqual([removed.code, removed.out], [0, 'web\n'], removed.err);
    assert.deepEqual((await api.serviceList({ leaderOnly: true })).services, []);
    assert.deepEqual(cells((await warren('service ls')).out), [['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS']]);
  });
});

test('bad input exits 2 naming what is wrong and what is expected, and changes nothing', async () => {
  assert.equal((await warren('service create', ['--name', 'keep', 'process:sleep'])).code, 0);
  await propose(register('w2', 'edge-2'));
  const before = JSON.stringify([(await api.serviceList({ leaderOnly: true })).services, (await api.nodeList({ leaderOnly: true })).nodes]);
  const cases: [string, string[], RegExp][] = [
    ['service create', ['--name', 'x', '--replicas', '-1', 'process:sleep'], /--replicas.*expected a replica count: an integer from 0 to 10000/],
    ['service create', ['--name', 'x', '--limit-memory', '12X', 'process:sleep'], /--limit-memory.*expected an amount of memory/],
    ['service create', ['--name', 'x', '--env', 'NOEQUALS', 'process:sleep'], /"NOEQUALS" is not KEY=VALUE/],
    ['service create', ['--name', 'x', '--update-delay', '10', 'process:sleep'], /--update-delay.*expected a duration with units, e.g. 500ms/],
    ['service create', ['--name', 'x', '--constraint', 'node.zone==x', 'process:sleep'], /the service spec would be invalid: .*node\.zone==x/],
    ['service create', ['--name', 'Bad_Name', 'process:sleep'], /the service spec would be invalid: name must be a DNS label/],
    ['service create', ['--name', 'x', '--mode', 'global', '--replicas', '2', 'process:sleep'], /--replicas is for replicated services/],
    ['service create', ['--name', 'x', '--health-interval', '5s', 'process:sleep'], /need a probe: give --health-cmd, --health-http or --health-tcp/],
    ['service create', ['process:sleep'], /required option '--name <NAME>' not specified/],
    ['service scale', ['keep=2', 'keep=many'], /"keep=many" is not SERVICE=REPLICAS with REPLICAS from 0 to 10000, e.g. web=3/],
    ['service update', ['--env-rm', 'NOPE', 'keep'], /--env-rm NOPE: the service has no such env \(it has: none\)/],
    ['service update', ['--rollback', '--image', 'process:true', 'keep'], /--rollback cannot be combined with other changes \(got --image\)/],
    ['service update', ['--limit-memory', '1M', '--reserve-memory', '2M', 'keep'], /the service spec would be invalid: limits\.memoryBytes/],
    ['node update', ['--availability', 'sideways', 'edge-2'], /--availability.*expected one of active, pause, drain/],
    ['node update', ['--label-add', 'bad key=1', 'edge-2'], /--label-add bad key=1: a label key must be/],
    ['node update', ['edge-2'], /nothing to change: give --availability, --label-add or --label-rm/],
    ['node update', ['--label-add', '=x', 'edge-2'], /"=x" is not KEY=VALUE/],
    ['service update', ['--placement-pref-rm', 'zone', 'keep'], /--placement-pref-rm.*expected spread=ATTRIBUTE/],
    ['service update', ['--publish-rm', '9090', 'keep'], /--publish-rm 9090\/tcp: the service has no such publish \(it has: none\)/],
    ['service frobnicate', [], /unknown command 'frobnicate'/],
  ];
  for (const [command, args, expected] of cases) {
    const ran = await warren(command, args);
    assert.equal(ran.code, 2, `${command} ${args.join(' ')}: ${ran.err}`);
    assert.match(ran.err, expected, `${command} ${args.join(' ')}`);
  }
  const fromEnv = await main(['service', 'ls'], { stdout: { write: () => true }, stderr: { write: () => true }, env: { WARREN_MANAGERS: 'nowhere' } } as ClientIo);
  assert.equal(fromEnv, 2, 'a bad WARREN_MANAGERS is a usage error');
  const afterAll = JSON.stringify([(await api.serviceList({ leaderOnly: true })).services, (await api.nodeList({ leaderOnly: true })).nodes]);
  assert.equal(afterAll, before, 'nothing changed');
  assert.equal((await warren('service rm', ['keep'])).code, 0);
});

test('a server\'s refusal exits 1 with its status and message; an unknown outcome says to look before retrying', async () => {
  const missing = await warren('service inspect', ['nosuch']);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, 'warren: NOT_FOUND: service "nosuch" does not exist (no service has this id or name)\n');
  const rm = await warren('service rm', ['nosuch']);
  assert.deepEqual([rm.code, rm.err], [1, 'warren: NOT_FOUND: service "nosuch" does not exist (no service has this id or name)\n']);
  const unreachable = await main(['service', 'ls', '--managers', '127.0.0.1:1'], { stdout: { write: () => true }, stderr: { write: (t: string) => assert.match(t, /^warren: UNAVAILABLE: could not reach 127\.0\.0\.1:1/) } });
  assert.equal(unreachable, 1);

  // A manager that takes the call and drops its connection: the write may or may not have happened.
  const server = new grpc.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of unaryMethods) handlers[method] = () => setImmediate(() => server.forceShutdown());
  server.addService(apiServiceDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  let err = '';
  const code = await main(['service', 'create', '--managers', `127.0.0.1:${port}`, '--name', 'maybe', 'process:sleep'], { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } });
  assert.equal(code, 1);
  assert.match(err, /^warren: [A-Z_]+: outcome unknown; the request may have been applied/);
  assert.match(err, /\nwarren: the outcome is unknown: the change may or may not have been applied; check with 'warren service ls' before retrying\n$/);
});

test('secrets are created from a file or stdin, and no command ever prints a value', async () => {
  const value = 'correct horse battery staple';
  writeFileSync(join(dir, 'db-pass'), value);
  const created = await warren('secret create', ['db-pass', join(dir, 'db-pass')]);
  assert.equal(created.code, 0, created.err);
  const piped = await warren('secret create', ['api-key', '-'], { stdin: (async function* () { yield Buffer.from(value); })() });
  assert.equal(piped.code, 0, piped.err);
  const outputs = [created, piped, await warren('secret ls'), await warren('secret ls', ['--json']), await warren('secret inspect', ['db-pass', 'api-key'])];
  for (const ran of outputs) {
    assert.equal(ran.code, 0, ran.err);
    for (const form of [value, Buffer.from(value).toString('base64')]) assert.ok(!ran.out.includes(form) && !ran.err.includes(form), 'the value is never printed');
  }
  assert.deepEqual(cells(outputs[2]!.out).map((r) => r.slice(0, 2)), [['ID', 'NAME'], [piped.out.trim(), 'api-key'], [created.out.trim(), 'db-pass']]);
  const [meta] = JSON.parse(outputs[4]!.out) as { id: string; name: string; digest: string }[];
  assert.deepEqual([meta!.id, meta!.name], [created.out.trim(), 'db-pass']);
  assert.match(meta!.digest, /^hmac-sha256:/);
  const empty = await warren('secret create', ['nothing', '-'], { stdin: (async function* () {})() });
  assert.deepEqual([empty.code, empty.err], [2, 'warren: stdin is empty: a secret\'s value is 1 to 512000 bytes\n']);
  assert.equal((await warren('secret rm', ['db-pass', 'api-key'])).code, 0);
  assert.deepEqual((await api.secretList({ leaderOnly: true })).secrets, []);
});

test('nodes: ls shows hostname, status, availability and the leader; update drains and labels; rm removes', async () => {
  const leader = cluster.leader()!;
  await propose(register(leader.id, 'manager-host', 'manager'));
  await propose(register('w3', 'edge-3'));
  const ls = await warren('node ls');
  assert.equal(ls.code, 0, ls.err);
  const rows = cells(ls.out);
  assert.deepEqual(rows[0], ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS']);
  assert.deepEqual(rows.find((r) => r[0] === leader.id), [leader.id, 'manager-host', 'Ready', 'Active', 'Leader']);
  assert.deepEqual(rows.find((r) => r[0] === 'w3'), ['w3', 'edge-3', 'Ready', 'Active']);

  assert.equal((await warren('node update', ['--availability', 'drain', '--label-add', 'zone=east', '--label-add', 'ssd', 'edge-3'])).code, 0);
  assert.equal((await warren('node update', ['--label-rm', 'ssd', 'w3'])).code, 0);
  const [node] = JSON.parse((await warren('node inspect', ['edge-3'])).out) as { availability: string; labels: object }[];
  assert.deepEqual([node!.availability, node!.labels], ['drain', { zone: 'east' }]);
  assert.deepEqual(cells((await warren('node ls', ['--availability', 'drain'])).out).slice(1).map((r) => r[0]), ['w3']);

  const refused = await warren('node rm', ['w3']);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /^warren: FAILED_PRECONDITION: .*w3/);
  assert.equal((await warren('node rm', ['--force', 'w3'])).code, 0);
  assert.equal((await api.nodeList({ leaderOnly: true })).nodes.some((n) => n.id === 'w3'), false);
});

test('volumes and cluster info', async () => {
  const created = await warren('volume create', ['--node', 'edge-1', 'data']);
  assert.equal(created.code, 0, created.err);
  assert.deepEqual(cells((await warren('volume ls')).out), [['ID', 'DRIVER', 'VOLUME NAME', 'NODE'], [created.out.trim(), 'local', 'data', 'edge-1']]);
  assert.equal((await warren('volume rm', ['data'])).code, 0);
  assert.deepEqual((await api.volumeList({ leaderOnly: true })).volumes, []);

  const info = await warren('cluster info');
  assert.equal(info.code, 0, info.err);
  const leader = cluster.leader()!;
  assert.match(info.out, new RegExp(`^Cluster ID: +cluster-api-test\nLeader: +${leader.id} \\(${leader.apiAddress}\\)\n`));
  assert.equal((JSON.parse((await warren('cluster info', ['--json'])).out) as { managers: unknown[] }).managers.length, 3);
});

test('events streams the creation of a service until interrupted', async () => {
  const interrupt = new AbortController();
  const subscribers = () => cluster.members.reduce((n, m) => n + m.api.stats().subscribers, 0);
  const counted = warren('events', ['--type', 'service-create', '--count', '1'], { interrupt: interrupt.signal });
  let live = '';
  const streamed = warren('events', ['--json'], { interrupt: interrupt.signal, stdout: { write: (t: string) => (live += t) } });
  await cluster.waitFor('both streams subscribed', () => subscribers() === 2);
  const id = (await warren('service create', ['--name', 'streamed', 'process:sleep'])).out.trim();
  const text = await counted; // ends by itself after one event
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z service create ${id} \\(index \\d+\\)\n$`));
  await cluster.waitFor('the JSON stream printed the create', () => live.includes(id));
  interrupt.abort();
  const json = await streamed;
  assert.equal(json.code, 0, json.err);
  const events = live.trim().split('\n').map((line) => JSON.parse(line) as { type: string; ids: string[] });
  assert.ok(events.some((e) => e.type === 'service-create' && e.ids[0] === id), live);
  await cluster.waitFor('both streams closed', () => subscribers() === 0);
  assert.equal((await warren('service rm', [id])).code, 0);
});

test('warren --help lists the client command groups', async () => {
  let out = '';
  assert.equal(await main(['--help'], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } }), 0);
  for (const group of ['service', 'task', 'node', 'secret', 'volume', 'events']) assert.match(out, new RegExp(`\n  ${group} +\\S`), group);
  assert.match(out, /cluster +.*warren cluster info/);
});
