// The client API against one real manager (core Manager on a RaftNode, served by ApiServer on a
// loopback port), driven through ApiClient: the service lifecycle, every error code with its
// message, secrets that never come back out, nodes and volumes, the events stream, a slow event
// subscriber cut off, and load shedding.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { defaultManagerConfig } from '../../core/manager/manager.ts';
import type { NodeId, SecretId, StateCommand } from '../../core/state/index.ts';
import { callUnary } from './api-channel.ts';
import { ApiError } from './api-errors.ts';
import { SecretSealer } from './api-secrets.ts';
import { TestCluster } from './api-testing.ts';
import type { ApiEvent } from './api-types.ts';

/** Runs `call`, which must fail with an ApiError of status `code`; returns the error. */
async function refused(code: grpc.status, call: () => Promise<unknown>, message?: RegExp): Promise<ApiError> {
  const error = await call().then(
    (answer) => assert.fail(`expected ${grpc.status[code]}, got an answer: ${JSON.stringify(answer).slice(0, 200)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
  assert.equal(error.codeName, grpc.status[code], error.message);
  if (message) assert.match(error.message, message);
  return error;
}

const register = (id: string): StateCommand => ({
  type: 'node-register', id: id as NodeId, name: `host-${id}`, role: 'worker', resources: { cpuMillis: 4000, memoryBytes: 8e9 }, labels: {}, address: '10.0.0.9:7000', atUs: 1,
});

describe('one manager', () => {
  let cluster: TestCluster;
  let address: string;
  before(async () => {
    cluster = await TestCluster.start({ size: 1, server: { maxBufferedEvents: 64 } });
    address = cluster.members[0]!.apiAddress;
  });
  after(() => cluster.close());

  test('a service is created, inspected, listed, updated, scaled, rolled back and removed through the client', async () => {
    const client = cluster.client([address]);
    const created = await client.serviceCreate({ spec: { name: 'web', image: 'nginx:1.27', mode: { type: 'replicated', replicas: 2 } } });
    assert.equal(created.servedBy, 'm1');
    assert.match(created.id, /^[0-9a-f]{20}$/);
    assert.equal(created.service?.spec.name, 'web');
    assert.equal(created.service?.spec.restartPolicy.condition, 'any', 'fields left out take their defaults');
    assert.ok(created.appliedIndex > 0);

    const byName = await client.serviceInspect({ id: 'web' });
    assert.equal(byName.service.id, created.id, 'a service is found by its name as well as its id');
    assert.ok(byName.appliedIndex >= created.appliedIndex);
    const list = await client.serviceList();
    assert.deepEqual(list.services.map((s) => s.spec.name), ['web']);
    assert.equal(list.total, 1);

    const updated = await client.serviceUpdate({ id: created.id, version: byName.service.version, spec: { image: 'nginx:1.28', env: { MODE: 'prod' } } });
    assert.equal(updated.service?.spec.image, 'nginx:1.28');
    assert.deepEqual(updated.service?.spec.env, { MODE: 'prod' });
    assert.equal(updated.service?.spec.mode.type === 'replicated' && updated.service.spec.mode.replicas, 2, 'fields left out of an update keep their value');
    assert.equal(updated.service?.specVersion, 2);

    const scaled = await client.serviceScale({ id: 'web', replicas: 5 });
    assert.deepEqual(scaled.service?.spec.mode, { type: 'replicated', replicas: 5 });
    assert.equal(scaled.service?.specVersion, 2, 'scaling does not start an update');

    const rolledBack = await client.serviceRollback({ id: 'web' });
    assert.equal(rolledBack.service?.spec.image, 'nginx:1.27');

    const tasks = await client.taskList({ service: 'web' });
    assert.ok(tasks.tasks.every((t) => t.serviceId === created.id));
    if (tasks.tasks.length > 0) assert.equal((await client.taskInspect({ id: tasks.tasks[0]!.id })).task.id, tasks.tasks[0]!.id);

    const removed = await client.serviceRemove({ id: 'web' });
    assert.equal(removed.id, created.id);
    await refused(grpc.status.NOT_FOUND, () => client.serviceInspect({ id: created.id }), /service ".*" does not exist/);
    const info = await client.clusterInfo();
    assert.deepEqual(info.leader, { id: 'm1', apiAddress: address });
    assert.deepEqual(info.managers, [{ id: 'm1', apiAddress: address }]);
    assert.equal(info.clusterId, 'cluster-api-test');
    assert.ok(info.term >= 1 && info.commitIndex >= info.appliedIndex - 1);
  });

  test('bad input is refused with INVALID_ARGUMENT naming the field and what is expected, and changes nothing', async () => {
    const client = cluster.client([address]);
    const before = cluster.members[0]!.state().services().length;
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const malformed = await callUnary(raw, 'ServiceCreate', Buffer.from('{"spec": {'), new grpc.Metadata(), Date.now() + 5000);
      assert.ok(!malformed.ok);
      assert.equal(malformed.error.code, grpc.status.INVALID_ARGUMENT);
      assert.match(malformed.error.details, /^ServiceCreate: the request is not valid JSON \(.*\); expected a JSON object$/);
      const array = await callUnary(raw, 'ServiceList', Buffer.from('[1]'), new grpc.Metadata(), Date.now() + 5000);
      assert.ok(!array.ok && /ServiceList: the request must be a JSON object, got \[1\]/.test(array.error.details));
    } finally {
      raw.close();
    }
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('ServiceCreate', {} as never), /^ServiceCreate: field "spec" is required/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('ServiceCreate', { spec: { image: 'x' } } as never), /field "spec.name" is required/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('ServiceCreate', { spec: { name: 'api', image: 'x', replica: 3 } } as never), /field "spec" has unknown field "replica"/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.serviceCreate({ spec: { name: 'Bad_Name', image: 'x' } }), /^ServiceCreate: spec: name must be a DNS label/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('ServiceScale', { id: 'x', replicas: '3' } as never), /^ServiceScale: field "replicas" must be an integer from 0 to 10000, got "3"$/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('ServiceList', { limt: 3 } as never), /^ServiceList: unknown field "limt"; expected some of leaderOnly, limit$/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('NodeUpdate', { id: 'n1', version: 1 } as never), /give availability or labels/);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.call('TaskList', { desiredState: 'gone' } as never), /field "desiredState" must be one of running, shutdown; got "gone"/);
    // A spec made invalid by a partial update is judged on the merged result, by the leader.
    await client.serviceCreate({ spec: { name: 'cache', image: 'redis:7' } });
    const cache = (await client.serviceInspect({ id: 'cache' })).service;
    await refused(grpc.status.INVALID_ARGUMENT, () => client.serviceUpdate({ id: 'cache', version: cache.version, spec: { mode: { type: 'replicated', replicas: -1 } } }), /^ServiceUpdate: spec: replicas must be an integer from 0/);
    assert.equal(cluster.members[0]!.state().services().length, before + 1, 'only the valid create changed the store');
    assert.equal((await client.serviceInspect({ id: 'cache' })).service.version, cache.version);
    await client.serviceRemove({ id: 'cache' });
  });

  test('missing objects are NOT_FOUND, taken names ALREADY_EXISTS, stale versions and broken preconditions FAILED_PRECONDITION', async () => {
    const client = cluster.client([address]);
    await refused(grpc.status.NOT_FOUND, () => client.serviceUpdate({ id: 'ghost', version: 1, spec: {} }), /^service "ghost" does not exist/);
    await refused(grpc.status.NOT_FOUND, () => client.nodeInspect({ id: 'nowhere' }), /node "nowhere" does not exist/);
    await refused(grpc.status.NOT_FOUND, () => client.taskInspect({ id: 'task-x' }), /task "task-x" does not exist/);
    await refused(grpc.status.NOT_FOUND, () => client.serviceCreate({ spec: { name: 'db', image: 'pg', secrets: [{ secret: 'pw', target: 'pw' }] } }), /secret "pw" does not exist: create it first/);

    const first = await client.serviceCreate({ spec: { name: 'api', image: 'api:1' } });
    await refused(grpc.status.ALREADY_EXISTS, () => client.serviceCreate({ spec: { name: 'api', image: 'api:2' } }), /service name "api" is taken by service /);

    const v1 = first.service!.version;
    await client.serviceUpdate({ id: 'api', version: v1, spec: { image: 'api:3' } });
    const stale = await refused(grpc.status.FAILED_PRECONDITION, () => client.serviceUpdate({ id: 'api', version: v1, spec: { image: 'api:4' } }), new RegExp(`version ${v1} is stale: service ${first.id} is at version ${v1 + 1}`));
    assert.equal(stale.servedBy, 'm1');
    assert.equal((await client.serviceInspect({ id: 'api' })).service.spec.image, 'api:3', 'the stale update changed nothing');

    await client.secretCreate({ name: 'token', value: 's3cret' });
    await client.serviceUpdate({ id: 'api', version: v1 + 1, spec: { secrets: [{ secret: 'token', target: 'token' }] } });
    await refused(grpc.status.FAILED_PRECONDITION, () => client.secretRemove({ id: 'token' }), /secret "token" is used by service "api"/);
    const global = await client.serviceCreate({ spec: { name: 'agent', image: 'agent:1', mode: { type: 'global' } } });
    await refused(grpc.status.FAILED_PRECONDITION, () => client.serviceScale({ id: global.id, replicas: 3 }), /service "agent" .* is global: it runs one task per node and cannot be scaled/);
    for (const name of ['api', 'agent']) await client.serviceRemove({ id: name });
    await client.secretRemove({ id: 'token' });
  });

  test('a secret is sealed under the cluster key and its value is never readable back', async () => {
    const client = cluster.client([address]);
    const value = 'correct horse battery staple';
    const created = await client.secretCreate({ name: 'db-password', value });
    const binary = await client.secretCreate({ name: 'tls-key', valueBase64: Buffer.from([0, 1, 2, 255]).toString('base64') });
    const answers = [created, binary, await client.secretInspect({ id: 'db-password' }), await client.secretList()];
    for (const answer of answers) {
      const text = JSON.stringify(answer);
      assert.doesNotMatch(text, /horse|ciphertext|aes-256-gcm/, 'neither the value nor the ciphertext is returned');
    }
    assert.deepEqual(Object.keys(created.secret!).sort(), ['createdAtUs', 'digest', 'id', 'name', 'version']);
    const stored = cluster.members[0]!.state().secret(created.id as SecretId)!;
    assert.doesNotMatch(stored.ciphertext, /horse/);
    assert.match(stored.ciphertext, /^aes-256-gcm:v1:/);
    const sealer = new SecretSealer(cluster.secretKey);
    assert.equal(sealer.open(created.id, stored.ciphertext).toString('utf8'), value, 'the store holds the value sealed under the cluster key');
    assert.equal(stored.digest, sealer.digest(Buffer.from(value)));
    assert.throws(() => new SecretSealer(Buffer.alloc(32, 7)).open(created.id, stored.ciphertext), /does not open with this cluster key/);
    assert.deepEqual([...sealer.open(binary.id, cluster.members[0]!.state().secret(binary.id as SecretId)!.ciphertext)], [0, 1, 2, 255]);
    await refused(grpc.status.INVALID_ARGUMENT, () => client.secretCreate({ name: 'both', value: 'a', valueBase64: 'YQ==' }), /exactly one of "value"/);
    await refused(grpc.status.ALREADY_EXISTS, () => client.secretCreate({ name: 'db-password', value: 'other' }), /secret name "db-password" is taken/);
    for (const name of ['db-password', 'tls-key']) await client.secretRemove({ id: name });
    assert.equal((await client.secretList()).total, 0);
  });

  test('nodes are listed, drained and labelled against their version; volumes are created on a node and removed', async () => {
    const client = cluster.client([address]);
    const leader = cluster.members[0]!;
    assert.deepEqual(await leader.proposeInternal(register('n1')), { ok: true });
    const node = (await client.nodeInspect({ id: 'host-n1' })).node;
    const drained = await client.nodeUpdate({ id: 'n1', version: node.version, availability: 'drain', labels: { zone: 'east' } });
    assert.equal(drained.node?.availability, 'drain');
    assert.deepEqual(drained.node?.labels, { zone: 'east' });
    await refused(grpc.status.FAILED_PRECONDITION, () => client.nodeUpdate({ id: 'n1', version: node.version, availability: 'active' }), /is stale/);
    assert.deepEqual((await client.nodeList({ availability: 'drain' })).nodes.map((n) => n.id), ['n1']);
    assert.deepEqual((await client.nodeList({ availability: 'active' })).nodes, []);
    assert.deepEqual((await client.taskList({ node: 'host-n1', desiredState: 'running' })).tasks, [], 'no task runs on a drained node');
    await refused(grpc.status.NOT_FOUND, () => client.taskList({ node: 'n7' }), /node "n7" does not exist/);

    const volume = await client.volumeCreate({ name: 'data', node: 'host-n1' });
    assert.equal(volume.volume?.nodeId, 'n1');
    assert.equal((await client.volumeInspect({ id: 'data' })).volume.id, volume.id);
    await refused(grpc.status.NOT_FOUND, () => client.volumeCreate({ name: 'logs', node: 'n9' }), /node "n9" does not exist/);
    await refused(grpc.status.FAILED_PRECONDITION, () => client.nodeRemove({ id: 'n1', force: true }), /holds the data of volume "data"/);
    await client.volumeRemove({ id: 'data' });
    assert.equal((await client.volumeList()).total, 0);
    await client.nodeRemove({ id: 'n1', force: true });
    await refused(grpc.status.NOT_FOUND, () => client.nodeRemove({ id: 'n1' }), /node "n1" does not exist/);
  });

  test('the events stream sees a service-create, from the index it started at on', async () => {
    const client = cluster.client([address]);
    const stream = await client.events({ types: ['service-create', 'service-remove'] });
    assert.equal(stream.servedBy, 'm1');
    const created = await client.serviceCreate({ spec: { name: 'watched', image: 'busybox' } });
    await client.serviceRemove({ id: created.id });
    const seen: ApiEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (seen.length === 2) break;
    }
    stream.close();
    assert.deepEqual(seen.map((e) => [e.type, e.ids]), [['service-create', [created.id]], ['service-remove', [created.id]]]);
    assert.ok(seen[0]!.index > stream.startIndex && seen[1]!.index > seen[0]!.index);
    assert.ok(Math.abs(seen[0]!.atUs - Date.now() * 1000) < 60e6, 'atUs is the wall clock in microseconds');
    await refused(grpc.status.INVALID_ARGUMENT, () => client.events({ types: ['service-explode' as never] }), /Events: field "types" must be a non-empty list of command types/);
  });

  test('a slow event subscriber is cut off with RESOURCE_EXHAUSTED, after the events it was sent, while a fast one keeps up', async () => {
    const client = cluster.client([address]);
    const leader = cluster.members[0]!;
    const slow = await client.events({ types: ['volume-create'] });
    const fast = await client.events({ types: ['volume-create'] });
    const fastSeen: number[] = [];
    const fastDone = (async () => {
      for await (const event of fast) if (fastSeen.push(event.index) === 3000) break;
    })();
    // 3000 changes in rounds of 50, each round once the fast subscriber has read the last one: it
    // never has more than 50 events outstanding, while the slow one reads nothing.
    for (let i = 0; i < 3000; i += 50) {
      for (let j = i; j < i + 50; j++) leader.manager.propose({ type: 'volume-create', id: `v${j}` as never, name: `v${j}`, driver: 'local', nodeId: null, atUs: 1 }, () => {});
      leader.pump();
      await cluster.waitFor(`the fast subscriber at ${i + 50} events`, () => fastSeen.length === i + 50);
    }
    await fastDone;
    fast.close();
    assert.equal(fastSeen.length, 3000, 'a subscriber that reads keeps up with every event');
    await cluster.waitFor('the slow subscriber cut off', () => leader.api.stats().subscribersCutOff === 1);
    const slowSeen: number[] = [];
    const error = await (async () => {
      for await (const event of slow) slowSeen.push(event.index);
    })().then(() => assert.fail('the slow stream ended without a status'), (e: unknown) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.codeName, 'RESOURCE_EXHAUSTED');
    assert.match(error.message, /^event subscriber too slow: 64 events were waiting to be sent, the bound \(maxBufferedEvents\); the stream was cut off after the event of index (\d+)/);
    const cutAfter = Number(/after the event of index (\d+)/.exec(error.message)![1]);
    assert.ok(slowSeen.length > 0 && slowSeen.length < 3000, `the slow subscriber got part of the events (${slowSeen.length})`);
    assert.deepEqual(slowSeen, fastSeen.slice(0, slowSeen.length), 'what it got has no gap');
    assert.equal(slowSeen.at(-1), cutAfter, 'the message names the last event it was sent');
    assert.equal(leader.api.stats().subscribers, 0, 'both subscriptions are gone');
  });
});

test('writes beyond the admission limits are RESOURCE_EXHAUSTED with a retry hint in the message and in retry-after-ms', async () => {
  const cluster = await TestCluster.start({ size: 1, managerConfig: { ...defaultManagerConfig, admission: { ratePerSecond: 1, burst: 2, maxInFlight: 100 } } });
  try {
    const client = cluster.client([cluster.members[0]!.apiAddress]);
    await client.volumeCreate({ name: 'a' });
    await client.volumeCreate({ name: 'b' });
    const shed = await refused(grpc.status.RESOURCE_EXHAUSTED, () => client.volumeCreate({ name: 'c' }), /^manager m1 is overloaded: client requests exceed 1\/s \(burst 2\); retry after \d+\.\d ms$/);
    assert.ok(shed.retryAfterMs !== null && shed.retryAfterMs > 0 && shed.retryAfterMs <= 1000, `retry-after-ms ${shed.retryAfterMs}`);
    assert.equal(cluster.members[0]!.state().volumeByName('c'), null, 'the shed request changed nothing');
    assert.equal((await client.volumeList()).total, 2, 'reads are not shed');
  } finally {
    await cluster.close();
  }
});
