// The Calls stream: its frames, and what a real ApiServer and ApiClient do with it at its edges
// (the bound on calls in flight, unknown methods, malformed frames, a client's timeout, shutdown
// with calls in flight, requests too large to share the stream).

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { ProposeCallback } from '../../core/manager/manager.ts';
import { nodeId } from '../../core/raft/index.ts';
import { ClusterState } from '../../core/state/index.ts';
import { decodeAnswerFrame, decodeCallFrame, encodeAnswerFrame, encodeCallFrame, maxStreamedRequestBytes } from './api-calls.ts';
import { ApiClient } from './api-client.ts';
import { ApiError } from './api-errors.ts';
import { ApiServer, type ApiManager, type ApiServerOptions } from './api-server.ts';
import { apiServiceDefinition, CALLS_METHOD, encodeJson, methodPath, unaryMethods } from './api-service.ts';
import { rejection } from './api-testing.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A leader whose proposals wait until the test answers them. */
function heldLeader(): { readonly manager: ApiManager; readonly held: ProposeCallback[] } {
  const held: ProposeCallback[] = [];
  const manager: ApiManager = {
    id: nodeId('m1'),
    state: () => new ClusterState(),
    propose: (_command, onDone) => held.push(onDone),
    leader: () => ({ id: nodeId('m1'), apiAddress: null }),
    subscribe: () => () => {},
    appliedIndex: () => 7,
    info: () => ({ clusterId: 'c', term: 1, commitIndex: 7, appliedIndex: 7, managers: [] }),
  };
  return { manager, held };
}

async function serve(manager: ApiManager, options: Partial<ApiServerOptions> = {}): Promise<{ readonly server: ApiServer; readonly address: string }> {
  const server = new ApiServer({ manager, listen: '127.0.0.1:0', secretKey: randomBytes(32), ...options });
  const address = `127.0.0.1:${await server.start()}`;
  cleanups.push(() => server.close());
  return { server, address };
}

function client(address: string, timeoutMs = 3000): ApiClient {
  const c = new ApiClient({ addresses: [address], timeoutMs, connectTimeoutMs: 1000 });
  cleanups.push(() => c.close());
  return c;
}

/** A raw Calls stream to `address`, collecting the answers and how it ended. */
function rawStream(address: string) {
  const channel = new grpc.Client(address, grpc.credentials.createInsecure());
  const identity = (b: Buffer): Buffer => b;
  const call = channel.makeBidiStreamRequest(methodPath(CALLS_METHOD), identity, identity, new grpc.Metadata(), {});
  const answers: ReturnType<typeof decodeAnswerFrame>[] = [];
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('data', (bytes: Buffer) => answers.push(decodeAnswerFrame(bytes)));
  call.on('error', () => {});
  cleanups.push(() => channel.close());
  return { call, answers, ended };
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), 'condition not reached within 2 s');
};

test('frames round-trip; a truncated call frame is refused with the reason', () => {
  const body = encodeJson({ name: 'data' });
  assert.deepEqual(decodeCallFrame(encodeCallFrame({ id: 4_000_000_000, method: 'VolumeCreate', timeoutMs: 2500, body })), { id: 4_000_000_000, method: 'VolumeCreate', timeoutMs: 2500, body });
  assert.equal(decodeCallFrame(Buffer.alloc(8)), 'a call frame has at least 9 bytes (id, timeout, method length), got 8');
  assert.equal(decodeCallFrame(Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 5, 65])), "a call frame's method is 5 bytes long but the frame has only 1 after its header");
  assert.deepEqual(decodeAnswerFrame(encodeAnswerFrame(9, { ok: true, body })), { id: 9, result: { ok: true, body } });
  const metadata = new grpc.Metadata();
  metadata.set('warren-served-by', 'm2');
  metadata.set('warren-outcome', 'not-applied');
  const failure = decodeAnswerFrame(encodeAnswerFrame(10, { ok: false, status: { code: grpc.status.UNAVAILABLE, details: 'no leader', metadata } }));
  assert.ok(failure !== null && !failure.result.ok);
  assert.equal(failure.id, 10);
  assert.equal(failure.result.status.code, grpc.status.UNAVAILABLE);
  assert.equal(failure.result.status.details, 'no leader');
  assert.deepEqual(failure.result.status.metadata?.getMap(), { 'warren-served-by': 'm2', 'warren-outcome': 'not-applied' });
  assert.equal(decodeAnswerFrame(Buffer.alloc(4)), null);
});

test('calls beyond the bound on one stream are refused; an unknown method is UNIMPLEMENTED; a malformed frame ends the stream', async () => {
  const { manager, held } = heldLeader();
  const { address } = await serve(manager, { maxCallsPerStream: 2 });
  const c = client(address);
  await c.clusterInfo(); // connected: the next calls leave in order
  const first = c.volumeCreate({ name: 'a' });
  const second = c.volumeCreate({ name: 'b' });
  const refused = await rejection(c.volumeCreate({ name: 'c' }));
  assert.equal(refused.codeName, 'RESOURCE_EXHAUSTED');
  assert.equal(refused.servedBy, 'm1');
  assert.equal(refused.message, 'manager m1 already serves 2 calls on this stream (the bound); wait for answers before sending more');
  await until(() => held.length === 2);
  for (const onDone of held) onDone({ ok: true });
  assert.deepEqual(await Promise.all([first, second]).then((answers) => answers.map((a) => a.servedBy)), ['m1', 'm1']);

  const raw = rawStream(address);
  raw.call.write(encodeCallFrame({ id: 1, method: 'Teleport', timeoutMs: 1000, body: encodeJson({}) }));
  await until(() => raw.answers.length === 1);
  const answer = raw.answers[0]!;
  assert.ok(answer !== null && !answer.result.ok);
  assert.equal(answer.result.status.code, grpc.status.UNIMPLEMENTED);
  assert.equal(answer.result.status.details, 'the client API has no method "Teleport"');
  raw.call.write(Buffer.from([1, 2, 3]));
  const status = await raw.ended;
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(status.details, 'manager m1: a call frame has at least 9 bytes (id, timeout, method length), got 3; the Calls stream is closed');
});

test("a call with no answer within the client's timeout is lost: a write's outcome is unknown", async () => {
  const { manager } = heldLeader();
  const { address } = await serve(manager, { writeTimeoutMs: 1000 });
  const error = await rejection(client(address, 150).volumeCreate({ name: 'slow' }));
  assert.equal(error.codeName, 'DEADLINE_EXCEEDED');
  assert.equal(error.outcome, 'unknown');
  assert.equal(error.servedBy, null);
  assert.match(error.message, /^outcome unknown; the request may have been applied; check before retrying \(VolumeCreate was sent to .* and the call failed without an answer: DEADLINE_EXCEEDED: no answer within 150 ms\)$/);
});

test('a server shutting down refuses new calls as not applied, answers those in flight, then ends the stream', async () => {
  const { manager, held } = heldLeader();
  const { server, address } = await serve(manager, { closeTimeoutMs: 5000 });
  const raw = rawStream(address);
  raw.call.write(encodeCallFrame({ id: 1, method: 'VolumeCreate', timeoutMs: 5000, body: encodeJson({ name: 'kept' }) }));
  await until(() => held.length === 1);
  const closed = server.close();
  raw.call.write(encodeCallFrame({ id: 2, method: 'VolumeCreate', timeoutMs: 5000, body: encodeJson({ name: 'late' }) }));
  await until(() => raw.answers.length === 1);
  const late = raw.answers[0]!;
  assert.ok(late !== null && !late.result.ok);
  assert.equal(late.id, 2);
  const lateError = ApiError.fromStatus(late.result.status, address);
  assert.deepEqual([lateError.codeName, lateError.outcome, lateError.servedBy], ['UNAVAILABLE', 'not-applied', 'm1']);
  assert.equal(lateError.message, 'manager m1 is shutting down; send VolumeCreate to another manager');
  held[0]!({ ok: true });
  const status = await raw.ended;
  assert.equal(status.code, grpc.status.OK, 'the stream ends cleanly once its calls are answered');
  const kept = raw.answers[1]!;
  assert.ok(kept !== null && kept.result.ok);
  assert.equal(kept.id, 1);
  assert.equal(JSON.parse(kept.result.body.toString()).id !== undefined, true);
  await closed;
});

/** A server of the API service that answers every call, and records whether it came as a unary call or on a Calls stream; it knows the Calls method only when told. */
async function recordingServer(withCalls: boolean): Promise<{ readonly address: string; readonly seen: string[] }> {
  const server = new grpc.Server();
  const seen: string[] = [];
  const handlers: grpc.UntypedServiceImplementation = {};
  if (withCalls) {
    handlers[CALLS_METHOD] = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (bytes: Buffer) => {
        const frame = decodeCallFrame(bytes);
        assert.ok(typeof frame !== 'string');
        seen.push(`stream ${frame.method}`);
        call.write(encodeAnswerFrame(frame.id, { ok: true, body: encodeJson({ servedBy: 'm1', appliedIndex: 1, id: 's' }) }));
      });
      call.on('end', () => call.end());
    };
  }
  for (const method of unaryMethods) {
    handlers[method] = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      seen.push(`unary ${method}`);
      callback(null, encodeJson({ servedBy: 'm1', appliedIndex: 1, id: 's' }));
    };
  }
  server.addService(apiServiceDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  cleanups.push(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, seen };
}

test('a request too large to share the stream goes as a unary call of its own', async () => {
  const { address, seen } = await recordingServer(true);
  const c = client(address);
  await c.secretCreate({ name: 'small', value: 'v' });
  await c.secretCreate({ name: 'large', value: 'x'.repeat(maxStreamedRequestBytes) });
  assert.deepEqual(seen, ['stream SecretCreate', 'unary SecretCreate']);
});

test('a manager that does not know the Calls stream (an older version) is called with unary calls', async () => {
  const { address, seen } = await recordingServer(false);
  const c = client(address);
  assert.equal((await c.secretCreate({ name: 'first', value: 'v' })).servedBy, 'm1');
  await c.secretCreate({ name: 'second', value: 'v' });
  assert.deepEqual(seen, ['unary SecretCreate', 'unary SecretCreate']);
});
