// Three manager daemons and one worker daemon in this process, on loopback: real write-ahead logs in
// temporary directories, Raft over gRPC, worker heartbeats over gRPC, tasks as real processes. A
// service is created and its tasks run; the leader is stopped and a new leader takes writes; the
// stopped manager restarts from its disk and catches up.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultManagerConfig, type ProposeOutcome } from '../../core/manager/manager.ts';
import type { StateCommand } from '../../core/state/index.ts';
import { spec } from '../../core/state/testing.ts';
import type { ServiceId } from '../../core/state/types.ts';
import { ManagerProcess } from './manager-process.ts';
import { defaultSessionConfig, WorkerProcess } from './worker-process.ts';

const root = mkdtempSync(join(tmpdir(), 'warren-daemon-'));
const managers = new Map<string, ManagerProcess>();
let worker: WorkerProcess | null = null;
after(async () => {
  await worker?.stop();
  for (const m of managers.values()) await m.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ids = ['m1', 'm2', 'm3'];
const secretKey = randomBytes(32);
const raftOptions = { tickMs: 20, electionTicks: 10, heartbeatTicks: 1 };
const managerConfig = { ...defaultManagerConfig, reconcileEveryTicks: 5 };

function propose(via: ManagerProcess, command: StateCommand): Promise<ProposeOutcome> {
  return new Promise((resolve) => via.proposeClient(command, resolve));
}

const leader = () => [...managers.values()].find((m) => m.isLeader());

test('a 3-manager cluster runs a service of processes on a worker and heals when the leader stops', { timeout: 60_000 }, async () => {
  // Ports are chosen by the OS; once all three listen, each learns the others' addresses.
  const ports = new Map<string, number>();
  const peersOf = (id: string) => Object.fromEntries(ids.filter((p) => p !== id).map((p) => [p, `127.0.0.1:${ports.get(p)}`]));
  const startManager = (id: string, bootstrap: boolean) => ManagerProcess.start({
    id, clusterId: 'test', dataDir: join(root, id), listen: `127.0.0.1:${ports.get(id) ?? 0}`, secretKey,
    peers: ports.size === ids.length ? peersOf(id) : {}, bootstrap: bootstrap ? ids : null, raft: raftOptions, manager: managerConfig,
  });
  for (const id of ids) {
    const m = await startManager(id, true);
    managers.set(id, m);
    ports.set(id, m.ports().listen);
  }
  for (const [id, m] of managers) m.setPeers(peersOf(id));
  await until('a leader', () => leader() !== undefined);

  worker = new WorkerProcess({
    id: 'w1', clusterId: 'test', stateDir: join(root, 'w1'), heartbeatMs: 100, session: defaultSessionConfig,
    managers: Object.fromEntries(ids.map((id) => [id, `127.0.0.1:${managers.get(id)!.ports().listen}`])),
    registration: { name: 'w1', address: '127.0.0.1', resources: { cpuMillis: 4000, memoryBytes: 4 * 1024 ** 3 }, labels: { zone: 'a' } },
  });
  worker.start();
  await until('the worker registered and ready', () => leader()?.manager.state.node('w1' as never)?.status === 'ready');

  const service = spec({ name: 'sleeper', image: 'process:sleep', args: ['600'], mode: { type: 'replicated', replicas: 2 }, resources: { reservations: { cpuMillis: 100, memoryBytes: 1024 * 1024 }, limits: { cpuMillis: 0, memoryBytes: 0 } } } as never);
  const created = await propose(leader()!, { type: 'service-create', id: 'svc-sleeper' as ServiceId, spec: service, atUs: Date.now() * 1000 });
  assert.deepEqual(created, { ok: true });
  const running = () => leader()?.manager.state.tasks().filter((t) => t.serviceId === 'svc-sleeper' && t.observedState === 'running').length ?? 0;
  await until('2 tasks running as processes', () => running() === 2);
  assert.equal(worker.runtime.list().filter((c) => c.state === 'running').length, 2);
  // The leader measured its reconcile passes and how long each task waited for a node.
  const exposition = await leader()!.metrics.scrape();
  const count = (name: string) => Number(new RegExp(`^${name}_count\\{[^}]*\\} (\\d+)$`, 'm').exec(exposition)?.[1] ?? 0);
  assert.ok(count('warren_scheduler_pass_duration_seconds') > 0, 'scheduler passes observed');
  assert.ok(count('warren_scheduling_latency_seconds') >= 2, 'both tasks\' scheduling latency observed');

  // The leader goes away; another one is elected and takes writes.
  const old = leader()!;
  await old.stop();
  managers.delete(old.id);
  await until('a new leader', () => leader() !== undefined && leader() !== old);
  const scaled = await propose(leader()!, { type: 'service-remove', id: 'svc-sleeper' as ServiceId, atUs: Date.now() * 1000 });
  assert.deepEqual(scaled, { ok: true });
  await until('the tasks stopped', () => worker!.runtime.list().filter((c) => c.state === 'running').length === 0);

  // The stopped manager restarts from its disk and catches up.
  const back = await startManager(old.id, false);
  managers.set(old.id, back);
  await until('the restarted manager applied the removal', () => back.manager.state.service('svc-sleeper' as ServiceId) === null && back.server.appliedTo() >= leader()!.server.appliedTo());
});
