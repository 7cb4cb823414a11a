// Command validation against the state: each class of error (shape, taken names, missing
// references, stale versions, objects in use, assignments that do not fit), and that a refused
// command changes nothing, whether refused before proposing or inside apply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StateCommand } from './commands.ts';
import type { StateErrorCode } from './errors.ts';
import { snapshot } from './snapshot.ts';
import { ClusterState } from './store.ts';
import { applyAll, assign, createService, createTasks, nid, register, sid, spec, tid } from './testing.ts';
import type { SecretId, VolumeId, IngressId, CertificateId } from './types.ts';
import { validateCommand } from './validate.ts';

/** The command is refused with this code and message, both by validation and by apply, and apply changes nothing. */
function refused(state: ClusterState, command: StateCommand, code: StateErrorCode, message: string | RegExp): void {
  const before = snapshot(state);
  const error = validateCommand(state, command);
  assert.ok(error !== null, `${command.type} should be refused`);
  assert.equal(error.code, code, error.message);
  if (typeof message === 'string') assert.equal(error.message, message);
  else assert.match(error.message, message);
  assert.deepEqual(state.apply(command), { ok: false, error });
  assert.equal(snapshot(state), before, 'a refused command must change nothing');
}

function cluster(): ClusterState {
  return applyAll(new ClusterState(), [
    register('n1', { labels: { zone: 'east' } }),
    register('n2'),
    { type: 'secret-create', id: 'sec-1' as SecretId, name: 'db-pass', ciphertext: 'c', digest: 'd', atUs: 1 },
    { type: 'volume-create', id: 'vol-1' as VolumeId, name: 'data', driver: 'local', nodeId: null, atUs: 1 },
    createService('s-12', { name: 'web' }),
  ]);
}

test('malformed commands are refused as invalid-argument with what is expected', () => {
  const state = cluster();
  refused(state, { type: 'node-explode', atUs: 1 } as unknown as StateCommand, 'invalid-argument', /^unknown command type "node-explode"; expected one of node-register, /);
  refused(state, { ...register('n3'), atUs: -1 } as StateCommand, 'invalid-argument', 'atUs must be an integer from 0 to 9007199254740991, got -1');
  refused(state, { ...register('n3'), id: nid('') } as StateCommand, 'invalid-argument', /^id must be 1 to 64 letters/);
  refused(state, register('n3', { resources: { cpuMillis: -1, memoryBytes: 0 } }), 'invalid-argument', 'resources.cpuMillis must be an integer from 0 to 9007199254740991, got -1');
  refused(state, register('n3', { labels: { '-bad': 'x' } }), 'invalid-argument', /^labels key must be 1 to 128/);
  refused(state, { type: 'node-update', id: nid('n1'), version: 1, atUs: 2 }, 'invalid-argument', 'node-update must change availability or labels (or both)');
  refused(state, createService('s-13', { mode: { type: 'replicated', replicas: -1 } }), 'invalid-argument', 'replicas must be an integer from 0 to 10000, got -1');
});

test('names are unique per kind: a taken name is refused as already-exists, naming the holder', () => {
  const state = cluster();
  refused(state, createService('s-13', { name: 'web' }), 'already-exists', 'service name "web" is taken by service s-12');
  refused(state, createService('s-12', { name: 'api' }), 'already-exists', 'service s-12 already exists');
  refused(state, register('n3', { name: 'n1' }), 'already-exists', 'node name "n1" is taken by node n1');
  refused(state, { type: 'secret-create', id: 'sec-2' as SecretId, name: 'db-pass', ciphertext: 'c', digest: 'd', atUs: 1 }, 'already-exists', 'secret name "db-pass" is taken by secret sec-1');
});

test('references to missing objects are refused as not-found', () => {
  const state = cluster();
  refused(state, createService('s-13', { name: 'api', secrets: [{ secret: 'nope', target: 'x' }] }), 'not-found', 'secret "nope" does not exist: create it first');
  refused(state, createService('s-13', { name: 'api', mounts: [{ volume: 'nope', target: '/d', readOnly: false }] }), 'not-found', 'volume "nope" does not exist: create it first');
  refused(state, { type: 'node-heartbeat', id: nid('n9'), atUs: 3 }, 'not-found', 'node n9 does not exist');
  refused(state, createTasks('s-99', [{ id: 't1' }]), 'not-found', 'service s-99 does not exist');
  refused(state, { type: 'service-remove', id: sid('s-99'), atUs: 3 }, 'not-found', 'service s-99 does not exist');
});

test('optimistic concurrency: an update naming a stale version is refused', () => {
  const state = cluster();
  applyAll(state, [{ type: 'service-update', id: sid('s-12'), version: 1, spec: spec({ name: 'web', image: 'nginx:2' }), atUs: 5 }]);
  refused(state, { type: 'service-update', id: sid('s-12'), version: 1, spec: spec({ name: 'web', image: 'nginx:3' }), atUs: 6 },
    'failed-precondition', 'version 1 is stale: service s-12 is at version 2');
  refused(state, { type: 'service-rollback', id: sid('s-12'), version: 7, atUs: 6 }, 'failed-precondition', 'version 7 is not a version of service s-12: it is at version 2');
  refused(state, { type: 'node-update', id: nid('n1'), version: 0, availability: 'drain', atUs: 6 }, 'invalid-argument', 'version must be an integer from 1 to 9007199254740991, got 0');
  applyAll(state, [{ type: 'node-update', id: nid('n1'), version: 1, availability: 'drain', atUs: 6 }]);
  refused(state, { type: 'node-update', id: nid('n1'), version: 1, availability: 'active', atUs: 7 }, 'failed-precondition', 'version 1 is stale: node n1 is at version 2');
});

test('objects in use cannot be removed', () => {
  const state = cluster();
  applyAll(state, [createService('s-13', { name: 'db', secrets: [{ secret: 'db-pass', target: 'pw' }], mounts: [{ volume: 'data', target: '/d', readOnly: false }] })]);
  refused(state, { type: 'secret-remove', id: 'sec-1' as SecretId, atUs: 5 }, 'failed-precondition', 'secret "db-pass" is used by service "db" (s-13): remove the reference first');
  refused(state, { type: 'volume-remove', id: 'vol-1' as VolumeId, atUs: 5 }, 'failed-precondition', 'volume "data" is mounted by service "db" (s-13): remove the mount first');
  refused(state, { type: 'node-remove', id: nid('n1'), force: false, atUs: 5 }, 'failed-precondition', 'node n1 is ready: drain it and wait for it to go down, or remove it with force');
});

test('a service mode cannot change and a rollback needs a previous spec', () => {
  const state = cluster();
  refused(state, { type: 'service-update', id: sid('s-12'), version: 1, spec: spec({ name: 'web', mode: { type: 'global' } }), atUs: 5 },
    'invalid-argument', 'mode cannot change from replicated to global: create a new service instead');
  refused(state, { type: 'service-rollback', id: sid('s-12'), version: 1, atUs: 5 }, 'failed-precondition', 'service s-12 has no previous spec to roll back to');
  refused(state, { type: 'service-set-update-status', id: sid('s-12'), specVersion: 1, state: 'completed', message: '', atUs: 5 }, 'failed-precondition', 'service s-12 has no update in progress');
});

test('the update status follows the spec version it is about and moves only along allowed steps', () => {
  const state = cluster();
  applyAll(state, [createTasks('s-12', [{ id: 't1' }]), { type: 'service-update', id: sid('s-12'), version: 1, spec: spec({ name: 'web', image: 'nginx:2' }), atUs: 5 }]);
  assert.equal(state.service(sid('s-12'))?.updateStatus?.state, 'updating');
  refused(state, { type: 'service-set-update-status', id: sid('s-12'), specVersion: 1, state: 'completed', message: '', atUs: 6 },
    'failed-precondition', 'update status is for spec version 1 but service s-12 is at spec version 2');
  refused(state, { type: 'service-set-update-status', id: sid('s-12'), specVersion: 2, state: 'rolled-back', message: '', atUs: 6 },
    'failed-precondition', 'update status of service s-12 cannot go from updating to rolled-back; expected one of updating, paused, completed');
  applyAll(state, [{ type: 'service-set-update-status', id: sid('s-12'), specVersion: 2, state: 'completed', message: 'done', atUs: 7 }]);
  assert.deepEqual(state.service(sid('s-12'))?.updateStatus, { state: 'completed', startedAtUs: 5, completedAtUs: 7, message: 'done' });
});

test('task batches are atomic and an error names the offending item', () => {
  const state = cluster();
  const before = snapshot(state);
  const result = state.apply(createTasks('s-12', [{ id: 't1' }, { id: 't2', slot: 0 }]));
  assert.deepEqual(result, { ok: false, error: { code: 'invalid-argument', message: 'slot must be an integer from 1 to 10000, got 0', index: 1 } });
  assert.equal(snapshot(state), before);
  refused(state, createTasks('s-12', [{ id: 't1' }, { id: 't1' }]), 'already-exists', 'task t1 already exists');
  refused(state, createTasks('s-12', [{ id: 't1', specVersion: 2 }]), 'failed-precondition', 'spec version 2 is stale: service s-12 is at spec version 1');
  refused(state, createTasks('s-12', [{ id: 't1', nodeId: 'n1' }]), 'invalid-argument', 'nodeId must be null for a task of replicated service s-12 (the scheduler assigns it), got "n1"');
  refused(state, { type: 'task-create', tasks: [], atUs: 3 }, 'invalid-argument', 'tasks must not be empty');
});

test('assignments are refused when the node cannot take the task', () => {
  const state = cluster();
  applyAll(state, [
    createService('s-20', { name: 'east', placement: { constraints: ['node.labels.zone==east'], preferences: [] } }),
    createService('s-21', { name: 'big', reservations: { cpuMillis: 600, memoryBytes: 1 } }),
    createService('s-22', { name: 'port', ports: [{ target: 80, published: 80, protocol: 'tcp', mode: 'host' }] }),
    createTasks('s-20', [{ id: 'e1' }]),
    createTasks('s-21', [{ id: 'b1' }, { id: 'b2' }]),
    createTasks('s-22', [{ id: 'p1' }, { id: 'p2' }]),
    createTasks('s-12', [{ id: 'w1' }]),
  ]);
  refused(state, assign([['e1', 'n2']]), 'failed-precondition', 'node n2 does not satisfy constraint node.labels.zone==east of service s-20');
  refused(state, assign([['b1', 'n1'], ['b2', 'n1']]), 'failed-precondition', 'node n1 has 400 cpu millis and 9999 memory bytes free; task b2 needs 600 and 1');
  refused(state, assign([['p1', 'n1'], ['p2', 'n1']]), 'failed-precondition', 'host port tcp/80 on node n1 is used by task p1; task p2 needs it');
  refused(state, assign([['w1', 'n9']]), 'not-found', 'node n9 does not exist');
  refused(state, assign([['w1', 'n1'], ['w1', 'n2']]), 'invalid-argument', 'task w1 appears twice in the batch');
  applyAll(state, [{ type: 'node-update', id: nid('n2'), version: 1, availability: 'drain', atUs: 5 }, { type: 'node-set-status', id: nid('n1'), status: 'down', atUs: 5 }]);
  refused(state, assign([['w1', 'n2']]), 'failed-precondition', 'node n2 is draining: it takes no new tasks');
  refused(state, assign([['w1', 'n1']]), 'failed-precondition', 'node n1 is down, not ready');
});

test('a task of a superseded spec version is not assigned', () => {
  const state = cluster();
  applyAll(state, [createTasks('s-12', [{ id: 'w1' }]), { type: 'service-update', id: sid('s-12'), version: 1, spec: spec({ name: 'web', image: 'nginx:2' }), atUs: 5 }]);
  refused(state, assign([['w1', 'n1']]), 'failed-precondition', 'task w1 runs spec version 1 but service s-12 is at spec version 2: replace the task');
});

test('ingress routes are unique and their certificate must cover their hosts', () => {
  const state = cluster();
  applyAll(state, [
    { type: 'certificate-create', id: 'c-1' as CertificateId, name: 'site', domains: ['*.example.com'], source: 'manual', ciphertext: 'pem', notAfterUs: null, atUs: 1 },
    { type: 'ingress-create', id: 'i-1' as IngressId, name: 'front', rules: [{ host: 'www.example.com', pathPrefix: '/', service: 'web', port: 80 }], certificate: 'site', atUs: 2 },
  ]);
  const rule = { host: 'www.example.com', pathPrefix: '/', service: 'web', port: 80 };
  refused(state, { type: 'ingress-create', id: 'i-2' as IngressId, name: 'other', rules: [rule], certificate: null, atUs: 3 }, 'failed-precondition', 'route www.example.com/ is already served by ingress "front" (i-1)');
  refused(state, { type: 'ingress-create', id: 'i-2' as IngressId, name: 'other', rules: [{ ...rule, host: 'example.org' }], certificate: 'site', atUs: 3 },
    'failed-precondition', 'certificate "site" does not cover host example.org; it covers *.example.com');
  refused(state, { type: 'certificate-update', id: 'c-1' as CertificateId, version: 1, domains: ['example.com'], ciphertext: 'pem', notAfterUs: null, atUs: 3 },
    'failed-precondition', 'certificate "site" does not cover host www.example.com; it covers example.com (needed by ingress "front")');
  refused(state, { type: 'certificate-remove', id: 'c-1' as CertificateId, atUs: 3 }, 'failed-precondition', 'certificate "site" is used by ingress "front" (i-1): change the ingress first');
  refused(state, { type: 'ingress-create', id: 'i-2' as IngressId, name: 'other', rules: [{ ...rule, pathPrefix: 'api' }], certificate: null, atUs: 3 },
    'invalid-argument', 'rules[0].pathPrefix must start with \'/\', got "api"');
});

test('task commands refuse tasks in the wrong state', () => {
  const state = cluster();
  applyAll(state, [createTasks('s-12', [{ id: 'w1' }, { id: 'w2' }]), assign([['w1', 'n1']])]);
  refused(state, assign([['w1', 'n2']]), 'failed-precondition', 'task w1 is already assigned');
  refused(state, { type: 'task-remove', taskIds: [tid('w1')], atUs: 6 }, 'failed-precondition', 'task w1 is assigned: only terminal tasks can be removed');
  refused(state, { type: 'task-set-pending-reason', reasons: [{ taskId: tid('w1'), message: 'x' }], atUs: 6 }, 'failed-precondition', 'task w1 is assigned, not waiting for a node');
  applyAll(state, [{ type: 'task-set-desired', changes: [{ taskId: tid('w2'), desiredState: 'shutdown', cause: 'scale-down' }], atUs: 6 }]);
  refused(state, { type: 'task-set-desired', changes: [{ taskId: tid('w2'), desiredState: 'running' }], atUs: 7 },
    'failed-precondition', 'task w2 is being shut down and never runs again: create a new task instead');
});

test('a task is shut down for a known cause, which it keeps; the store gives its own causes', () => {
  const state = cluster();
  applyAll(state, [createTasks('s-12', [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }]), assign([['w1', 'n1'], ['w2', 'n2']])]);
  const shutdown = (cause: unknown, taskId = 'w1') => ({ type: 'task-set-desired', changes: [{ taskId: tid(taskId), desiredState: 'shutdown', cause }], atUs: 6 }) as StateCommand;
  refused(state, shutdown('bored'), 'invalid-argument', 'cause must be one of update, scale-down, drain, ineligible, duplicate, rebalance; got "bored"');
  refused(state, shutdown(undefined), 'invalid-argument', 'cause is required to shut a task down: one of update, scale-down, drain, ineligible, duplicate, rebalance');
  refused(state, shutdown('service-removed'), 'invalid-argument', 'cause must be one of update, scale-down, drain, ineligible, duplicate, rebalance; got "service-removed"');
  refused(state, { type: 'task-set-desired', changes: [{ taskId: tid('w1'), desiredState: 'running', cause: 'update' }], atUs: 6 } as unknown as StateCommand,
    'invalid-argument', 'cause is given only to shut a task down (desiredState shutdown), got "update" with desiredState running');
  assert.equal(state.task(tid('w1'))!.shutdownCause, null);
  applyAll(state, [shutdown('update')]);
  assert.deepEqual([state.task(tid('w1'))!.shutdownCause, state.task(tid('w1'))!.shutdownAtUs], ['update', 6]);
  applyAll(state, [{ ...shutdown('drain'), atUs: 9 } as StateCommand]);
  assert.deepEqual([state.task(tid('w1'))!.shutdownCause, state.task(tid('w1'))!.shutdownAtUs], ['update', 6], 'a second shutdown changes nothing');
  applyAll(state, [{ type: 'node-remove', id: nid('n2'), force: true, atUs: 10 }]);
  assert.deepEqual([state.task(tid('w2'))!.shutdownCause, state.task(tid('w2'))!.shutdownAtUs], ['node-removed', 10]);
  applyAll(state, [{ type: 'service-remove', id: sid('s-12'), atUs: 11 }]);
  assert.deepEqual([state.task(tid('w3'))!.shutdownCause, state.task(tid('w3'))!.shutdownAtUs], ['service-removed', 11]);
  assert.equal(state.task(tid('w1'))!.shutdownCause, 'update', 'a task already shut down keeps its cause when its service goes');
});
