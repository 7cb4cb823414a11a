// Property tests of the store over random command sequences (most of them refused, which must
// change nothing): reservations stay exactly the sum of live claims, task states only move forward,
// a task's shutdown cause is set once, when it is asked to shut down,
// snapshot → restore → snapshot is byte-identical and the restored store answers every query the
// same, and the same commands always give the same snapshot. Failures print fast-check's seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand } from './codec.ts';
import type { StateCommand } from './commands.ts';
import { restore, snapshot } from './snapshot.ts';
import { ClusterState } from './store.ts';
import { holdsClaim, isTerminal, isUnassigned, taskStates } from './task-machine.ts';
import { nid, register, sid, spec, tid } from './testing.ts';
import { commandShutdownCauses, shutdownCauses, type NodeId, type SecretId, type ServiceId, type ServiceSpec, type Task, type TaskId, type TaskState, type VolumeId } from './types.ts';

const nodeIds = ['n1', 'n2', 'n3'];
const serviceIds = ['s1', 's2', 's3'];
const taskIds = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', 't10', 't11', 't12'];
const node = fc.constantFrom(...nodeIds);
const service = fc.constantFrom(...serviceIds);
const task = fc.constantFrom(...taskIds);
const atUs = fc.nat({ max: 1000 });
/** 0 = the version the object has now (so updates often succeed), otherwise a literal guess. */
const versionGuess = fc.nat({ max: 3 });

const specArb: fc.Arbitrary<ServiceSpec> = fc
  .record({
    name: fc.constantFrom('web', 'api', 'db'),
    image: fc.constantFrom('a:1', 'a:2'),
    replicas: fc.nat({ max: 3 }),
    global: fc.boolean(),
    cpu: fc.nat({ max: 600 }),
    memory: fc.nat({ max: 5000 }),
    hostPort: fc.option(fc.constantFrom(80, 81), { nil: null }),
    volume: fc.option(fc.constantFrom('data', 'logs'), { nil: null }),
    zone: fc.option(fc.constantFrom('east', 'west'), { nil: null }),
  })
  .map((r) => spec({
    name: r.name,
    image: r.image,
    mode: r.global ? { type: 'global' } : { type: 'replicated', replicas: r.replicas },
    reservations: { cpuMillis: r.cpu, memoryBytes: r.memory },
    ports: r.hostPort === null ? [] : [{ target: 80, published: r.hostPort, protocol: 'tcp', mode: 'host' }],
    mounts: r.volume === null || r.global ? [] : [{ volume: r.volume, target: '/d', readOnly: false }],
    placement: { constraints: r.zone === null ? [] : [`node.labels.zone==${r.zone}`], preferences: [] },
  }));

/** A command with some fields (versions, spec versions) resolved against the state when applied. */
type Intent = (state: ClusterState) => StateCommand;

const version = (guess: number, current: number | undefined): number => (guess === 0 ? (current ?? 1) : guess);

/** Picks a task id: with `pick` set, one of the tasks `filter` accepts now (often more useful), else `fallback`. */
function pickTask(state: ClusterState, pick: number | null, filter: (t: Task) => boolean, fallback: string): TaskId {
  if (pick === null) return tid(fallback);
  const candidates = state.tasks().filter(filter);
  return candidates.length === 0 ? tid(fallback) : candidates[pick % candidates.length].id;
}

const pick = fc.option(fc.nat(), { nil: null, freq: 4 });
const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

const intents: fc.Arbitrary<Intent> = fc.oneof(
  fc.record({ id: node, zone: fc.constantFrom('east', 'west'), cpu: fc.integer({ min: 0, max: 1500 }), at: atUs })
    .map(({ id, zone, cpu, at }): Intent => () => register(id, { labels: { zone }, resources: { cpuMillis: cpu, memoryBytes: 10_000 }, atUs: at })),
  fc.record({ id: node, v: versionGuess, availability: fc.constantFrom('active', 'pause', 'drain' as const), at: atUs })
    .map(({ id, v, availability, at }): Intent => (s) => ({ type: 'node-update', id: nid(id), version: version(v, s.node(nid(id))?.version), availability, atUs: at })),
  fc.record({ id: node, status: fc.constantFrom('ready', 'down', 'unknown' as const), at: atUs })
    .map(({ id, status, at }): Intent => () => ({ type: 'node-set-status', id: nid(id), status, atUs: at })),
  fc.record({ id: node, at: atUs }).map(({ id, at }): Intent => () => ({ type: 'node-heartbeat', id: nid(id), atUs: at })),
  fc.record({ id: node, force: fc.boolean(), at: atUs }).map(({ id, force, at }): Intent => () => ({ type: 'node-remove', id: nid(id), force, atUs: at })),
  weighted(2, fc.record({ id: service, spec: specArb, at: atUs }).map(({ id, spec, at }): Intent => () => ({ type: 'service-create', id: sid(id), spec, atUs: at }))),
  fc.record({ id: service, v: versionGuess, spec: specArb, force: fc.boolean(), at: atUs })
    .map(({ id, v, spec, force, at }): Intent => (s) => ({ type: 'service-update', id: sid(id), version: version(v, s.service(sid(id))?.version), spec, force, atUs: at })),
  fc.record({ id: service, v: versionGuess, at: atUs })
    .map(({ id, v, at }): Intent => (s) => ({ type: 'service-rollback', id: sid(id), version: version(v, s.service(sid(id))?.version), atUs: at })),
  fc.record({ id: service, at: atUs }).map(({ id, at }): Intent => () => ({ type: 'service-remove', id: sid(id), atUs: at })),
  weighted(4, fc.record({ serviceId: service, items: fc.array(fc.record({ id: task, slot: fc.integer({ min: 1, max: 3 }), node }), { minLength: 1, maxLength: 3 }), at: atUs })
    .map(({ serviceId, items, at }): Intent => (s) => {
      const target = s.service(sid(serviceId));
      const global = target?.spec.mode.type === 'global';
      return {
        type: 'task-create', atUs: at,
        tasks: items.map((i) => ({ id: tid(i.id), serviceId: sid(serviceId), slot: global ? null : i.slot, nodeId: global ? nid(i.node) : null, specVersion: target?.specVersion ?? 1 })),
      };
    })),
  weighted(6, fc.record({ pairs: fc.array(fc.tuple(task, pick, node), { minLength: 1, maxLength: 3 }), at: atUs })
    .map(({ pairs, at }): Intent => (s) => ({
      type: 'task-assign', atUs: at,
      assignments: pairs.map(([t, p, n]) => {
        const taskId = pickTask(s, p, (x) => isUnassigned(x.observedState), t);
        return { taskId, nodeId: s.task(taskId)?.nodeId ?? nid(n) };
      }),
    }))),
  weighted(6, fc.record({ id: task, p: pick, state: fc.constantFrom(...taskStates), exit: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }), at: atUs })
    .map(({ id, p, state, exit, at }): Intent => (s) => ({
      type: 'task-report', taskId: pickTask(s, p, holdsClaim, id), state: state as TaskState, exitCode: exit, message: 'm', atUs: at,
    }))),
  fc.record({ id: task, p: pick, cause: fc.constantFrom(...commandShutdownCauses), at: atUs })
    .map(({ id, p, cause, at }): Intent => (s) => ({ type: 'task-set-desired', changes: [{ taskId: pickTask(s, p, (t) => t.desiredState === 'running', id), desiredState: 'shutdown', cause }], atUs: at })),
  fc.record({ id: task, at: atUs }).map(({ id, at }): Intent => () => ({ type: 'task-set-pending-reason', reasons: [{ taskId: tid(id), message: 'no fit' }], atUs: at })),
  fc.record({ id: task, p: pick, at: atUs })
    .map(({ id, p, at }): Intent => (s) => ({ type: 'task-remove', taskIds: [pickTask(s, p, (t) => isTerminal(t.observedState), id)], atUs: at })),
  fc.record({ name: fc.constantFrom('data', 'logs'), node: fc.option(node, { nil: null }), at: atUs })
    .map(({ name, node, at }): Intent => () => ({ type: 'volume-create', id: `v-${name}` as VolumeId, name, driver: 'local', nodeId: node === null ? null : nid(node), atUs: at })),
  fc.record({ name: fc.constantFrom('data', 'logs'), node: fc.option(node, { nil: null }), at: atUs })
    .map(({ name, node, at }): Intent => (s) => ({ type: 'volume-set-node', id: `v-${name}` as VolumeId, version: s.volume(`v-${name}` as VolumeId)?.version ?? 1, nodeId: node === null ? null : nid(node), atUs: at })),
  fc.record({ name: fc.constantFrom('data', 'logs'), at: atUs }).map(({ name, at }): Intent => () => ({ type: 'volume-remove', id: `v-${name}` as VolumeId, atUs: at })),
  fc.record({ at: atUs }).map(({ at }): Intent => () => ({ type: 'secret-create', id: 'sec-1' as SecretId, name: 'pw', ciphertext: 'c', digest: 'd', atUs: at })),
);

/** A cluster to start from, so that most sequences get as far as placing and running tasks. */
const prelude: readonly Intent[] = [
  () => register('n1', { labels: { zone: 'east' }, resources: { cpuMillis: 1000, memoryBytes: 10_000 } }),
  () => register('n2', { labels: { zone: 'west' }, resources: { cpuMillis: 1000, memoryBytes: 10_000 } }),
  () => register('n3', { labels: { zone: 'east' }, resources: { cpuMillis: 500, memoryBytes: 6000 } }),
  () => ({ type: 'volume-create', id: 'v-data' as VolumeId, name: 'data', driver: 'local', nodeId: null, atUs: 0 }),
  () => ({ type: 'volume-create', id: 'v-logs' as VolumeId, name: 'logs', driver: 'local', nodeId: null, atUs: 0 }),
  () => ({ type: 'service-create', id: sid('s1'), spec: spec({ name: 'web', mode: { type: 'replicated', replicas: 3 } }), atUs: 0 }),
  () => ({
    type: 'service-create', id: sid('s2'), atUs: 0,
    spec: spec({ name: 'api', mode: { type: 'global' }, ports: [{ target: 80, published: 80, protocol: 'tcp', mode: 'host' }] }),
  }),
];

/** Runs the intents, checking the invariants after every command; returns the commands applied. */
function run(steps: readonly Intent[], check: (state: ClusterState) => void = () => {}): { state: ClusterState; commands: StateCommand[] } {
  const state = new ClusterState();
  const commands: StateCommand[] = [];
  for (const intent of [...prelude, ...steps]) {
    const command = intent(state);
    commands.push(command);
    state.apply(command);
    try {
      check(state);
    } catch (error) {
      // The intents print as code; the commands they became are what replays the failure.
      const replay = commands.slice(prelude.length).map((c) => `  ${encodeCommand(c)}`).join('\n');
      throw new Error(`${(error as Error).message}\nafter the prelude and these commands:\n${replay}`, { cause: error });
    }
  }
  return { state, commands };
}

function checkReservations(state: ClusterState): void {
  for (const n of state.nodes()) {
    let cpu = 0;
    let memory = 0;
    const ports: string[] = [];
    for (const t of state.tasksOnNode(n.id)) {
      const claim = state.claimOf(t.id);
      assert.equal(claim !== null, holdsClaim(t), `task ${t.id} (${t.observedState}) claim presence`);
      if (claim === null) continue;
      cpu += claim.resources.cpuMillis;
      memory += claim.resources.memoryBytes;
      ports.push(...claim.hostPorts);
      for (const v of claim.volumes) assert.equal(state.volumeByName(v)?.nodeId, n.id, `volume ${v} of task ${t.id} is on its node`);
    }
    assert.deepEqual(n.reserved, { cpuMillis: cpu, memoryBytes: memory }, `node ${n.id} reserved == sum of live claims`);
    assert.ok(cpu <= n.resources.cpuMillis && memory <= n.resources.memoryBytes, `node ${n.id} is not overcommitted`);
    assert.deepEqual(state.hostPortsInUse(n.id), ports.sort());
  }
  for (const t of state.tasks()) if (holdsClaim(t)) assert.ok(state.node(t.nodeId as NodeId) !== null, `live task ${t.id} on a known node`);
}

const rank = (s: TaskState): number => Math.min(taskStates.indexOf(s), 5);

/** Every answer a controller could ask for, for comparing two stores. */
function answers(state: ClusterState): unknown {
  return {
    nodes: state.nodes(),
    services: state.services(),
    tasks: state.tasks(),
    byService: serviceIds.map((id) => state.tasksOfService(id as ServiceId)),
    byNode: nodeIds.map((id) => [state.tasksOnNode(id as NodeId), state.hostPortsInUse(id as NodeId), state.hostPortOwner(id as NodeId, 'tcp', 80)]),
    claims: taskIds.map((id) => state.claimOf(id as TaskId)),
    names: ['web', 'api', 'db'].map((name) => state.serviceByName(name)),
    nodeNames: nodeIds.map((name) => state.nodeByName(name)),
    volumes: [state.volumes(), state.volumeByName('data'), state.volumeByName('logs')],
    secrets: [state.secrets(), state.secretByName('pw')],
  };
}

// Print the failing check's message (with the commands that replay it) in the report.
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const steps = fc.array(intents, { minLength: 1, maxLength: 150, size: 'max' });

test('reserved resources always equal the sum of the claims of live assigned tasks', () => {
  fc.assert(fc.property(steps, (s) => void run(s, checkReservations)), { numRuns: 300 });
});

test('a task state only ever moves forward', () => {
  fc.assert(
    fc.property(steps, (s) => {
      const seen = new Map<string, { version: number; rank: number }>();
      run(s, (state) => {
        for (const t of state.tasks()) {
          const before = seen.get(t.id);
          if (before !== undefined && t.version >= before.version) assert.ok(rank(t.observedState) >= before.rank, `task ${t.id} moved back to ${t.observedState}`);
          seen.set(t.id, { version: t.version, rank: rank(t.observedState) });
        }
      });
    }),
    { numRuns: 200 },
  );
});

test('a task has a shutdown cause exactly while it is desired shut down, and keeps the first one it was given', () => {
  fc.assert(
    fc.property(steps, (s) => {
      let first = new Map<string, { cause: Task['shutdownCause']; atUs: number | null }>();
      run(s, (state) => {
        // A removed task's id may come back as a new task: only tasks still in the store are followed.
        const present = new Set(state.tasks().map((t) => t.id as string));
        first = new Map([...first].filter(([id]) => present.has(id)));
        for (const t of state.tasks()) {
          assert.equal(t.shutdownCause !== null, t.desiredState === 'shutdown', `task ${t.id} is ${t.desiredState} with cause ${t.shutdownCause}`);
          assert.equal(t.shutdownAtUs !== null, t.shutdownCause !== null, `task ${t.id}: cause and time are set together`);
          if (t.shutdownCause === null) continue;
          assert.ok(shutdownCauses.includes(t.shutdownCause), `task ${t.id} has unknown shutdown cause ${t.shutdownCause}`);
          const seen = first.get(t.id) ?? { cause: t.shutdownCause, atUs: t.shutdownAtUs };
          assert.deepEqual({ cause: t.shutdownCause, atUs: t.shutdownAtUs }, seen, `task ${t.id} changed its shutdown cause`);
          first.set(t.id, seen);
        }
      });
    }),
    { numRuns: 200 },
  );
});

test('snapshot → restore → snapshot is byte-identical and the restored store answers the same', () => {
  fc.assert(
    fc.property(steps, (s) => {
      const { state } = run(s);
      const text = snapshot(state);
      const restored = restore(text);
      assert.equal(snapshot(restored), text);
      assert.deepEqual(answers(restored), answers(state));
      checkReservations(restored);
    }),
    { numRuns: 200 },
  );
});

test('apply is deterministic: the same commands give the same snapshot, also after a restore midway', () => {
  fc.assert(
    fc.property(steps, fc.nat(), (s, cut) => {
      const { state, commands } = run(s);
      const replay = new ClusterState();
      const results = commands.map((c) => replay.apply(c));
      assert.equal(snapshot(replay), snapshot(state));
      const at = cut % (commands.length + 1);
      const first = new ClusterState();
      for (const c of commands.slice(0, at)) first.apply(c);
      const resumed = restore(snapshot(first));
      const resumedResults = commands.slice(at).map((c) => resumed.apply(c));
      assert.deepEqual(resumedResults, results.slice(at));
      assert.equal(snapshot(resumed), snapshot(state));
    }),
    { numRuns: 200 },
  );
});
