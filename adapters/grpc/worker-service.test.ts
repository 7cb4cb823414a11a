// The worker service over real gRPC on loopback. ReadSecret: a manager gives a secret's plaintext
// only for a task of the store placed on the asking node, still wanted, whose spec (the version it
// runs) names the secret; every other request is refused with its own status code, and neither the
// answer's path nor a refusal logs the value. Heartbeats pass the same cluster and shape pre-check.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ClusterState, type StateCommand } from '../../core/state/index.ts';
import { applyAll, assign, createService, createTasks, register, report, sid, spec, tid } from '../../core/state/testing.ts';
import type { SecretId } from '../../core/state/types.ts';
import { SecretSealer } from './api-secrets.ts';
import { bindServer, shutdownServer } from './server.ts';
import { addWorkerService, WorkerClient, type SecretReadRequest } from './worker-service.ts';

const CLUSTER = 'cluster-secrets-test';
const key = randomBytes(32);
const sealer = new SecretSealer(key);
/** Bytes no text encoding would carry through unchanged: NUL, a newline, invalid UTF-8. */
const dbValue = Buffer.from([0x70, 0x34, 0x73, 0x73, 0x00, 0x0a, 0xff, 0xfe, 0xc3]);

const createSecret = (id: string, name: string, value: Buffer, by: SecretSealer = sealer): StateCommand => {
  const sealed = by.seal(id, value);
  return { type: 'secret-create', id: id as SecretId, name, ciphertext: sealed.ciphertext, digest: sealed.digest, atUs: 1 };
};

// n1 runs t1 (uses db), n2 runs t2 (uses db); t3 (uses db) was on n1 and has finished for good;
// `other` exists and no spec names it; `foreign` was sealed under another cluster's key.
const state = applyAll(new ClusterState(), [
  register('n1'),
  register('n2'),
  createSecret('sec-db', 'db', dbValue),
  createSecret('sec-other', 'other', Buffer.from('not yours')),
  createSecret('sec-foreign', 'foreign', Buffer.from('x'), new SecretSealer(randomBytes(32))),
  createService('s1', { secrets: [{ secret: 'db', target: 'db' }, { secret: 'foreign', target: 'foreign' }] }),
  createTasks('s1', [{ id: 't1' }, { id: 't2' }, { id: 't3' }]),
  assign([['t1', 'n1'], ['t2', 'n2'], ['t3', 'n1']]),
  { type: 'task-set-desired', changes: [{ taskId: tid('t3'), desiredState: 'shutdown', cause: 'scale-down' }], atUs: 5 },
  report('t3', 'shutdown', 6),
  // Version 2 of s1 no longer names db: t1 still runs version 1 (kept as the previous spec), t4 runs version 2.
  { type: 'service-update', id: sid('s1'), version: 1, spec: spec({ name: 's1', secrets: [{ secret: 'foreign', target: 'foreign' }] }), atUs: 7 },
  createTasks('s1', [{ id: 't4', specVersion: 2, slot: 4 }], 8),
  assign([['t4', 'n1']], 9),
]);

const logged: string[] = [];
const logger = {
  info: (fields: Record<string, unknown>, message: string) => logged.push(JSON.stringify({ ...fields, message })),
  warn: (fields: Record<string, unknown>, message: string) => logged.push(JSON.stringify({ ...fields, message })),
  error: (fields: Record<string, unknown>, message: string) => logged.push(JSON.stringify({ ...fields, message })),
};

const server = new grpc.Server();
addWorkerService(server, CLUSTER, () => {
  throw new Error('no heartbeats in this test');
}, { state: () => state, secretKey: key, logger });
let client: WorkerClient;
let stranger: WorkerClient;
before(async () => {
  const port = await bindServer(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
  client = new WorkerClient(`127.0.0.1:${port}`, CLUSTER);
  stranger = new WorkerClient(`127.0.0.1:${port}`, 'another-cluster');
});
after(async () => {
  client.close();
  stranger.close();
  await shutdownServer(server, 1_000);
});

const read = (request: SecretReadRequest, by: WorkerClient = client): Promise<Buffer> => by.readSecret(request, 2_000);

/** The call is refused with `code`, its message matching `details`. */
async function refusedWith(request: SecretReadRequest, code: grpc.status, details: RegExp, by: WorkerClient = client): Promise<void> {
  await assert.rejects(read(request, by), (error: grpc.ServiceError) => {
    assert.equal(grpc.status[error.code], grpc.status[code], `status of ${JSON.stringify(request)}: ${error.details}`);
    assert.match(error.details, details);
    return true;
  });
}

test('the node running a task whose spec names a secret reads its exact bytes', async () => {
  assert.deepEqual(await read({ node: 'n1', task: 't1', secret: 'db' }), dbValue);
  assert.deepEqual(await read({ node: 'n2', task: 't2', secret: 'db' }), dbValue);
});

test('a node asking for another node\'s task is refused with PERMISSION_DENIED', async () => {
  await refusedWith({ node: 'n1', task: 't2', secret: 'db' }, grpc.status.PERMISSION_DENIED, /task t2 is not assigned to node n1/);
  await refusedWith({ node: 'n3', task: 't1', secret: 'db' }, grpc.status.PERMISSION_DENIED, /task t1 is not assigned to node n3/);
});

test('a secret the task\'s spec does not name is refused with PERMISSION_DENIED, judged by the spec version the task runs', async () => {
  await refusedWith({ node: 'n1', task: 't1', secret: 'other' }, grpc.status.PERMISSION_DENIED, /task t1's spec does not use secret "other"/);
  // t4 runs version 2, which dropped db; t1 still runs version 1, which names it.
  await refusedWith({ node: 'n1', task: 't4', secret: 'db' }, grpc.status.PERMISSION_DENIED, /task t4's spec does not use secret "db"/);
  assert.deepEqual(await read({ node: 'n1', task: 't1', secret: 'db' }), dbValue);
});

test('a task that has finished and is not wanted any more gets no secret (PERMISSION_DENIED)', async () => {
  await refusedWith({ node: 'n1', task: 't3', secret: 'db' }, grpc.status.PERMISSION_DENIED, /task t3 is shutdown and wanted shutdown/);
});

test('an unknown task or an unknown secret is NOT_FOUND', async () => {
  await refusedWith({ node: 'n1', task: 't9', secret: 'db' }, grpc.status.NOT_FOUND, /task t9 does not exist/);
  await refusedWith({ node: 'n1', task: 't1', secret: 'nope' }, grpc.status.NOT_FOUND, /secret "nope" does not exist/);
});

test('a worker of another cluster is refused with FAILED_PRECONDITION, even for an allowed read', async () => {
  await refusedWith({ node: 'n1', task: 't1', secret: 'db' }, grpc.status.FAILED_PRECONDITION, /belongs to cluster "another-cluster", this manager to "cluster-secrets-test"/, stranger);
});

test('a malformed request is INVALID_ARGUMENT naming the field', async () => {
  await refusedWith({ node: '', task: 't1', secret: 'db' }, grpc.status.INVALID_ARGUMENT, /field "node" must be a string of 1 to 64 characters/);
  await refusedWith({ node: 'n1', task: 't1', secret: 'x'.repeat(65) }, grpc.status.INVALID_ARGUMENT, /field "secret"/);
  await refusedWith({ node: 'n1', task: 7, secret: 'db' } as unknown as SecretReadRequest, grpc.status.INVALID_ARGUMENT, /field "task"/);
});

test('a secret sealed under another key is INTERNAL, saying it cannot be opened', async () => {
  await refusedWith({ node: 'n1', task: 't1', secret: 'foreign' }, grpc.status.INTERNAL, /secret "foreign" cannot be opened by this manager .*does not open with this cluster key/);
});

test('reads and refusals are logged by names only, never with the value', () => {
  assert.ok(logged.some((line) => line.includes('"event":"secret-read"') && line.includes('"task_id":"t1"')), 'reads are logged');
  assert.ok(logged.some((line) => line.includes('PERMISSION_DENIED')), 'refusals are logged with their code');
  const forms = [dbValue.toString('base64'), dbValue.toString('hex'), dbValue.subarray(0, 4).toString('latin1'), 'not yours'];
  for (const line of logged) for (const form of forms) assert.ok(!line.includes(form), `a log line carries the value: ${line}`);
});

test('heartbeats go through the same pre-check: another cluster is FAILED_PRECONDITION, a malformed one INVALID_ARGUMENT', async () => {
  const refusal = (from: WorkerClient, message: unknown): Promise<grpc.ServiceError> =>
    from.heartbeat(message as never, 2_000).then(() => assert.fail('the heartbeat was answered'), (error: grpc.ServiceError) => error);
  const other = await refusal(stranger, { type: 'worker-heartbeat', node: 'n1' });
  assert.equal(other.code, grpc.status.FAILED_PRECONDITION);
  assert.match(other.details, /belongs to cluster "another-cluster"/);
  const bad = await refusal(client, { type: 'worker-heartbeat', node: '' });
  assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
  assert.match(bad.details, /^bad heartbeat: field "node"/);
});
