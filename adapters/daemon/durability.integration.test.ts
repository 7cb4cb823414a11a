// Durability of acknowledged writes across kill -9 of a minority (issue 4), with real daemons: in
// each round, clients create secrets with unique names through the API while one manager (the
// leader in some rounds, a follower in others) is SIGKILLed mid-stream; the clients keep going on
// the survivors, the victim restarts on its data directory, and once the three managers agree,
// every manager's own store must hold every write that was acknowledged, and none of those the API
// said were certainly not applied. A write whose outcome is unknown may be there or not.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../grpc/api-errors.ts';
import { ProcessCluster, sleep, until } from './process-cluster.ts';

const cluster = await ProcessCluster.create({ name: 'durability', managers: 3 });
after(() => cluster.cleanup());

const rounds = 4;
const writers = 6;
/** How long the clients write before the kill, and after it. */
const beforeKillMs = 500;
const afterKillMs = 1_200;

interface Outcomes {
  readonly acknowledged: Set<string>;
  readonly notApplied: Set<string>;
  readonly unknown: Set<string>;
  acknowledgedAfterKill: number;
}

/** The names of the secrets manager `id` holds, read from its own store. */
async function secretNames(id: string): Promise<Set<string>> {
  const { secrets, servedBy } = await cluster.client([id], 5_000).call('SecretList', {});
  assert.equal(servedBy, id);
  return new Set(secrets.map((s) => s.name));
}

/** Waits until every manager has applied what the leader committed and all hold the same secrets. */
async function converged(): Promise<Set<string>> {
  let names = new Set<string>();
  await until('the three managers hold the same secrets, applied up to the leader\'s commit', async () => {
    const leader = await cluster.leader(5_000);
    const commit = (await cluster.info(leader.id)).commitIndex;
    const infos = await Promise.all([...cluster.managers.keys()].map((id) => cluster.info(id)));
    if (infos.some((info) => info.appliedIndex < commit)) return false;
    const sets = await Promise.all([...cluster.managers.keys()].map(secretNames));
    const first = [...sets[0]!].sort().join();
    if (!sets.every((set) => [...set].sort().join() === first)) return false;
    names = sets[0]!;
    return true;
  }, 30_000, 200);
  return names;
}

async function writeUntil(round: number, writer: number, stop: () => boolean, killed: () => boolean, out: Outcomes): Promise<void> {
  const api = cluster.client([...cluster.managers.keys()], 3_000);
  for (let seq = 0; !stop(); seq++) {
    const name = `r${round}-w${writer}-${seq}`;
    try {
      await api.call('SecretCreate', { name, value: `value of ${name}` });
      out.acknowledged.add(name);
      if (killed()) out.acknowledgedAfterKill++;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      (error.outcome === 'not-applied' ? out.notApplied : out.unknown).add(name);
      await sleep(20);
    }
  }
}

test('a write acknowledged before a kill -9 of any minority (leader or follower) is never lost', { timeout: 150_000 }, () => cluster.diagnose(async () => {
  await cluster.startAll();
  const out: Outcomes = { acknowledged: new Set(), notApplied: new Set(), unknown: new Set(), acknowledgedAfterKill: 0 };
  for (let round = 0; round < rounds; round++) {
    const leader = await cluster.leader();
    const followers = [...cluster.managers.keys()].filter((id) => id !== leader.id);
    const victim = round % 2 === 0 ? leader.id : followers[round % followers.length]!;
    let stopped = false;
    let killed = false;
    const before = { acknowledged: out.acknowledged.size, afterKill: out.acknowledgedAfterKill };
    const clients = Array.from({ length: writers }, (_, w) => writeUntil(round, w, () => stopped, () => killed, out));
    await sleep(beforeKillMs);
    await cluster.manager(victim).kill9();
    killed = true;
    await sleep(afterKillMs);
    stopped = true;
    await Promise.all(clients);
    assert.ok(out.acknowledgedAfterKill > before.afterKill, `round ${round}: the survivors took writes after the kill of ${victim}`);
    cluster.startManager(victim, 'restart');
    const names = await converged();
    const lost = [...out.acknowledged].filter((name) => !names.has(name));
    assert.deepEqual(lost, [], `round ${round} (kill -9 of ${victim}${victim === leader.id ? ', the leader' : ''}): acknowledged writes missing`);
    const appliedAnyway = [...out.notApplied].filter((name) => names.has(name));
    assert.deepEqual(appliedAnyway, [], `round ${round}: writes reported as certainly not applied were applied`);
    process.stderr.write(`# round ${round}: kill -9 of ${victim}${victim === leader.id ? ' (leader)' : ''}; acknowledged ${out.acknowledged.size - before.acknowledged} ` +
      `(${out.acknowledgedAfterKill - before.afterKill} after the kill); so far ${out.unknown.size} unknown, ${out.notApplied.size} not applied\n`);
  }
}));
