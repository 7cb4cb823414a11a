// Snapshot and restore: byte-identical round trips, a restored store that keeps applying like the
// original, canonical JSON, and a tampered snapshot caught by restore.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantError } from '../assert.ts';
import { canonicalJson, decodeCommand, encodeCommand } from './codec.ts';
import type { StateCommand } from './commands.ts';
import { restore, snapshot } from './snapshot.ts';
import { ClusterState } from './store.ts';
import { applyAll, assign, createService, createTasks, nid, register, report, sid, tid } from './testing.ts';
import type { CertificateId, IngressId, SecretId, VolumeId } from './types.ts';

const everyKind: readonly StateCommand[] = [
  register('n2', { labels: { zone: 'west', rack: 'r1' } }),
  register('n1', { labels: { zone: 'east' } }),
  { type: 'secret-create', id: 'sec-1' as SecretId, name: 'pw', ciphertext: 'c1', digest: 'd1', atUs: 1 },
  { type: 'volume-create', id: 'v-1' as VolumeId, name: 'data', driver: 'local', nodeId: null, atUs: 1 },
  { type: 'certificate-create', id: 'c-1' as CertificateId, name: 'site', domains: ['example.com'], source: 'acme', ciphertext: '', notAfterUs: null, atUs: 1 },
  { type: 'ingress-create', id: 'i-1' as IngressId, name: 'front', rules: [{ host: 'example.com', pathPrefix: '/', service: 'web', port: 80 }], certificate: 'site', atUs: 1 },
  createService('s-2', {
    name: 'web',
    secrets: [{ secret: 'pw', target: 'pw' }],
    mounts: [{ volume: 'data', target: '/d', readOnly: false }],
    ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }],
  }),
  createService('s-1', { name: 'api', mode: { type: 'global' } }),
  createTasks('s-2', [{ id: 't2' }, { id: 't1' }]),
  createTasks('s-1', [{ id: 'g1', slot: null, nodeId: 'n1' }]),
  assign([['t1', 'n1'], ['g1', 'n1']]),
  report('t1', 'running'),
  { type: 'task-set-pending-reason', reasons: [{ taskId: tid('t2'), message: 'host port tcp/8080 is in use on every eligible node' }], atUs: 6 },
  { type: 'task-set-desired', changes: [{ taskId: tid('g1'), desiredState: 'shutdown', cause: 'drain' }], atUs: 7 },
];

test('snapshot → restore → snapshot round-trips every kind of object byte for byte', () => {
  const state = applyAll(new ClusterState(), everyKind);
  const text = snapshot(state);
  const restored = restore(text);
  assert.equal(snapshot(restored), text);
  assert.deepEqual(restored.node(nid('n1'))?.reserved, { cpuMillis: 200, memoryBytes: 2000 });
  assert.equal(restored.hostPortOwner(nid('n1'), 'tcp', 8080), 't1');
  assert.deepEqual(restored.tasksOnNode(nid('n1')).map((t) => t.id), ['g1', 't1']);
  assert.equal(restored.serviceByName('web')?.id, 's-2');
  assert.equal(restored.certificateByName('site')?.id, 'c-1');
  assert.deepEqual([restored.task(tid('g1'))?.shutdownCause, restored.task(tid('g1'))?.shutdownAtUs], ['drain', 7]);
  assert.deepEqual([restored.task(tid('t1'))?.shutdownCause, restored.task(tid('t1'))?.shutdownAtUs], [null, null]);
});

test('a restored store keeps applying exactly like the original', () => {
  const original = applyAll(new ClusterState(), everyKind);
  const restored = restore(snapshot(original));
  const next: StateCommand[] = [
    report('t1', 'failed', 7, 1),
    { type: 'task-assign', assignments: [{ taskId: tid('t2'), nodeId: nid('n1') }], atUs: 8 },
    { type: 'service-remove', id: sid('s-1'), atUs: 9 },
  ];
  for (const command of next) assert.deepEqual(restored.apply(command), original.apply(command));
  assert.equal(snapshot(restored), snapshot(original));
});

test('the empty snapshot restores an empty store and an empty store snapshots canonically', () => {
  const empty = restore('');
  assert.deepEqual(empty.nodes(), []);
  assert.equal(snapshot(restore(snapshot(empty))), snapshot(new ClusterState()));
});

test('the same commands give the same snapshot on every replica', () => {
  assert.equal(snapshot(applyAll(new ClusterState(), everyKind)), snapshot(applyAll(new ClusterState(), everyKind)));
});

test('restore refuses a snapshot whose reservations disagree with its tasks', () => {
  const text = snapshot(applyAll(new ClusterState(), everyKind));
  const tampered = text.replace('"reserved":{"cpuMillis":200', '"reserved":{"cpuMillis":300');
  assert.notEqual(tampered, text);
  assert.throws(() => restore(tampered), InvariantError);
});

test('canonical JSON sorts keys at every depth and drops undefined properties', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: undefined } }), '{"a":{"d":[2,{"y":null,"z":1}]},"b":1}');
  const command = everyKind[0];
  assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  const reversed = Object.fromEntries(Object.entries(command).reverse()) as StateCommand;
  assert.notEqual(JSON.stringify(reversed), JSON.stringify(command));
  assert.equal(encodeCommand(reversed), encodeCommand(command));
});

test('unknown fields in a client spec never reach the store', () => {
  const state = new ClusterState();
  const command = createService('s-1', { name: 'web' }) as Extract<StateCommand, { type: 'service-create' }>;
  applyAll(state, [{ ...command, spec: { ...command.spec, extra: 'x' } } as StateCommand]);
  assert.equal(snapshot(state).includes('extra'), false);
});
