// Integration of the real daemons (issue 4): 3 managers and 2 workers started by `warren cluster
// init` and `warren worker start` as child processes on loopback, real gRPC, real disks, tasks as
// real processes. One cluster is shared by the tests below, which run in order and each state what
// they check: a service runs; a lost worker's tasks move and the service comes back to balance when
// it returns; kill -9 of the leader heals (new leader, writes, the killed manager catches up); a
// manager that missed more than the leader kept of its log catches up from a snapshot; SIGTERM of
// the leader hands leadership over and exits 0. A failing test prints the tail of every daemon's log.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import type { Task } from '../../core/state/index.ts';
import { daemonRaftOptions } from './manager-process.ts';
import { ProcessCluster, snapshotIndexOnDisk, until } from './process-cluster.ts';

const snapshotEvery = 50;
/** What `warren` keeps after a snapshot: min(1000, ceil(snapshotEvery / 10)) entries (adapters/cli/daemon.ts). */
const keptAfterSnapshot = Math.ceil(snapshotEvery / 10);
/** The daemon's shortest election timeout (manager-process.ts daemonRaftOptions): a hand-over faster than it was no election. */
const minElectionTimeoutMs = daemonRaftOptions.tickMs * daemonRaftOptions.electionTicks;

const cluster = await ProcessCluster.create({ name: 'integration', managers: 3, workers: 2, snapshotEvery });
after(() => cluster.cleanup());

const SERVICE = 'sleeper';

/** Tasks of the service that are meant to run and do, as the leader's store has them. */
async function runningTasks(): Promise<Task[]> {
  const { tasks } = await cluster.client().call('TaskList', { service: SERVICE, desiredState: 'running', leaderOnly: true });
  return tasks.filter((t) => t.observedState === 'running');
}

function perNode(tasks: readonly Task[]): Record<string, number> {
  const counts: Record<string, number> = { w1: 0, w2: 0 };
  for (const t of tasks) counts[t.nodeId ?? 'unassigned'] = (counts[t.nodeId ?? 'unassigned'] ?? 0) + 1;
  return counts;
}

/** The `sleep 600` programs the worker's runtime runs, seen in /proc. */
function sleepers(worker: string): number {
  return cluster.taskProcesses(worker).filter((p) => p.program !== null && basename(p.program[0]!) === 'sleep' && p.program[1] === '600').length;
}

/** Waits until `count` tasks run, spread as `spread` says (when given), and the workers run exactly those processes. */
async function waitForRunning(what: string, count: number, spread: ((counts: Record<string, number>) => boolean) | null, timeoutMs: number): Promise<Record<string, number>> {
  let counts: Record<string, number> = {};
  let processes: Record<string, number> = {};
  try {
    await until(what, async () => {
      const tasks = await runningTasks();
      counts = perNode(tasks);
      processes = { w1: sleepers('w1'), w2: sleepers('w2') };
      return tasks.length === count && (spread === null || spread(counts)) && processes.w1 === counts.w1 && processes.w2 === counts.w2;
    }, timeoutMs, 200);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: running tasks per node ${JSON.stringify(counts)}, task processes per worker ${JSON.stringify(processes)}`);
  }
  return counts;
}

const snapshotIndexOf = (id: string): number => snapshotIndexOnDisk(cluster.manager(id).dataDir);

test('3 managers and 2 workers run a replicated service of 4 processes created through the API, 2 per worker', { timeout: 60_000 }, () => cluster.diagnose(async () => {
  await cluster.startAll();
  const created = await cluster.client().call('ServiceCreate', { spec: { name: SERVICE, image: 'process:sleep', args: ['600'], mode: { type: 'replicated', replicas: 4 } } });
  assert.equal(created.service?.spec.mode.type === 'replicated' && created.service.spec.mode.replicas, 4);
  // TaskList says running on a worker, and that worker's runtime runs exactly that many `sleep 600` processes.
  const counts = await waitForRunning('4 tasks running as processes, 2 per worker', 4, (c) => c.w1 === 2 && c.w2 === 2, 20_000);
  assert.deepEqual(counts, { w1: 2, w2: 2 });
}));

test('a lost worker machine (kill -9 of its daemon and its task process groups): its tasks move to the other worker', { timeout: 60_000 }, () => cluster.diagnose(async () => {
  const before = perNode(await runningTasks());
  assert.ok(before.w1! > 0, 'w1 runs tasks to lose');
  const killedGroups = await cluster.killWorkerMachine('w1');
  assert.equal(killedGroups, before.w1, 'every task of w1 ran in a process group of its own, now killed');
  assert.equal(sleepers('w1'), 0);
  // The leader marks w1 down after its heartbeat timeout (5 s) and places its tasks on w2.
  await waitForRunning('all 4 tasks running on w2', 4, (c) => c.w2 === 4, 30_000);
  const { node } = await cluster.client().call('NodeInspect', { id: 'w1', leaderOnly: true });
  assert.equal(node.status, 'down');
}));

// The bound: the rebalancer waits for a returning node to stay unchanged 10 s (core/reconciler
// rebalanceCooldownUs), then moves one task at a time, start-first.
test('when the lost worker returns on its data directory, the service comes back to balance (2 and 2)', { timeout: 60_000 }, () => cluster.diagnose(async () => {
  cluster.startWorker('w1');
  await until('w1 ready again', async () => (await cluster.client().call('NodeInspect', { id: 'w1', leaderOnly: true })).node.status === 'ready', 20_000);
  const counts = await waitForRunning('the service back to 2 tasks per worker', 4, (c) => c.w1 === 2 && c.w2 === 2, 35_000);
  assert.deepEqual(counts, { w1: 2, w2: 2 });
}));

test('kill -9 of the leader: a new leader is elected, writes succeed, and the killed manager restarts and catches up', { timeout: 60_000 }, () => cluster.diagnose(async () => {
  const old = await cluster.leader();
  await cluster.manager(old.id).kill9();
  const survivors = cluster.runningManagers().map((d) => d.id);
  const startedMs = Date.now();
  const elected = await cluster.leader(10_000, survivors);
  const electionMs = Date.now() - startedMs;
  assert.notEqual(elected.id, old.id);
  assert.ok(elected.term > old.term, `new leader's term ${elected.term} is after ${old.term}`);
  // A write through the survivors commits, and the new leader's reconciler acts on it.
  const scaled = await cluster.client(survivors).call('ServiceScale', { id: SERVICE, replicas: 6 });
  assert.equal(scaled.service?.spec.mode.type === 'replicated' && scaled.service.spec.mode.replicas, 6);
  await waitForRunning('6 tasks running after the scale', 6, null, 20_000);

  const back = cluster.startManager(old.id, 'restart');
  await until(`${old.id} restarted from its data directory`, () => back.find('started').length === 1, 15_000);
  const leaderInfo = await cluster.info(elected.id);
  const { service: onLeader } = await cluster.client([elected.id]).call('ServiceInspect', { id: SERVICE });
  await until(`${old.id} caught up to the leader's commit ${leaderInfo.commitIndex} and shows the scale`, async () => {
    const info = await cluster.info(old.id);
    const { service } = await cluster.client([old.id], 2_000).call('ServiceInspect', { id: SERVICE });
    return info.servedBy === old.id && info.appliedIndex >= leaderInfo.commitIndex && service.version >= onLeader.version &&
      service.spec.mode.type === 'replicated' && service.spec.mode.replicas === 6;
  }, 20_000);
  process.stderr.write(`# failover: new leader ${elected.id} (term ${elected.term}) known to both survivors ${electionMs} ms after the kill\n`);
}));

test('a manager that missed more than the leader kept of its log catches up by installing a snapshot', { timeout: 90_000 }, () => cluster.diagnose(async () => {
  // The victim is the leader: a live leader keeps up to its in-flight window of appends for a dead
  // follower queued in its transport and delivers them when the follower returns, which would let
  // the follower catch up on entries alone. A new leader only probes a follower it never heard from.
  const victim = (await cluster.leader()).id;
  await cluster.manager(victim).kill9();
  const survivors = cluster.runningManagers().map((d) => d.id);
  const leader = await cluster.leader(10_000, survivors);
  // Nothing the victim holds goes past what the new leader committed once elected (plus a margin).
  const victimLastIndex = (await cluster.info(leader.id)).commitIndex + 10;
  const api = cluster.client(survivors);
  let written = 0;
  const writer = async (n: number) => {
    for (let i = n; i < 200; i += 8) {
      await api.call('SecretCreate', { name: `snap-${i}`, value: `value-${i}` });
      written++;
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
  assert.equal(written, 200);
  // Both survivors snapshotted and compacted their log beyond anything the victim has.
  await until('both survivors compacted past the victim\'s log', () => survivors.every((id) => snapshotIndexOf(id) - keptAfterSnapshot > victimLastIndex), 10_000);

  cluster.startManager(victim, 'restart');
  const reference = cluster.client([leader.id], 5_000);
  const own = cluster.client([victim], 5_000);
  const listed = async (client: typeof own) => {
    const [secrets, services] = await Promise.all([client.call('SecretList', {}), client.call('ServiceList', {})]);
    return { secrets: secrets.secrets.map((s) => `${s.id}/${s.name}/${s.version}/${s.digest}`).sort(), services: services.services.map((s) => `${s.id}/${s.spec.name}/${s.version}`).sort() };
  };
  let mine: Awaited<ReturnType<typeof listed>> | null = null;
  let theirs: Awaited<ReturnType<typeof listed>> | null = null;
  await until(`${victim} converged with the leader (same secrets and services)`, async () => {
    [mine, theirs] = await Promise.all([listed(own), listed(reference)]);
    return JSON.stringify(mine) === JSON.stringify(theirs);
  }, 30_000, 250);
  assert.equal(mine!.secrets.filter((s) => s.includes('/snap-')).length, 200);
  assert.equal(mine!.services.length, 1);
  // Evidence of the install: a snapshot saved since the restart, at an index the victim's own log never reached.
  assert.ok((await cluster.metric(victim, 'warren_wal_snapshots_saved_total'))! >= 1, 'a snapshot saved since the restart');
  assert.ok(snapshotIndexOf(victim) > victimLastIndex, `the victim's snapshot (${snapshotIndexOf(victim)}) is past its own log (${victimLastIndex})`);
}));

test('SIGTERM of the leader: it hands leadership over without an election timeout, logs every shutdown step ok, and exits 0', { timeout: 60_000 }, () => cluster.diagnose(async () => {
  const old = await cluster.leader();
  const leaving = cluster.manager(old.id);
  const code = await leaving.terminate();
  assert.equal(code, 0);
  const stopped = leaving.find('stopped')[0] as { steps: { name: string; status: string }[]; time: string } | undefined;
  assert.ok(stopped !== undefined, 'a stopped event');
  assert.deepEqual(stopped.steps.map((s) => [s.name, s.status]), [['stop-accepting', 'ok'], ['transfer-leadership', 'ok'], ['close-storage', 'ok'], ['flush-logs', 'ok']]);
  const transfer = leaving.find('transfer-leadership')[0] as { to: string; time: string } | undefined;
  assert.ok(transfer !== undefined, 'a transfer-leadership event');
  const successor = await cluster.leader(10_000, cluster.runningManagers().map((d) => d.id));
  assert.equal(successor.id, transfer.to, 'the manager it handed over to leads');
  assert.equal(successor.term, old.term + 1, 'in the next term');
  const won = cluster.manager(successor.id).events.find((e) => e.event === 'role' && e.role === 'leader' && e.term === successor.term);
  assert.ok(won !== undefined);
  const handOverMs = Date.parse(won.time!) - Date.parse(transfer.time);
  assert.ok(handOverMs < minElectionTimeoutMs, `leadership moved ${handOverMs} ms after the hand-over began (an election would wait at least ${minElectionTimeoutMs} ms)`);
  assert.ok(Date.parse(won.time!) <= Date.parse(stopped.time), 'the successor led before the old leader stopped');
  process.stderr.write(`# hand-over: ${old.id} -> ${successor.id} (term ${successor.term}) ${handOverMs} ms after it began\n`);
}));
