// What a client and a relaying follower say when a call is lost on the way, against small gRPC
// servers that take a call and then drop their connection: a write sent and not answered has an
// unknown outcome and is never retried elsewhere, while a read moves on to the next manager.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { nodeId } from '../../core/raft/index.ts';
import { ClusterState } from '../../core/state/index.ts';
import { ApiClient } from './api-client.ts';
import { ApiServer, type ApiManager } from './api-server.ts';
import { decodeCallFrame, encodeAnswerFrame } from './api-calls.ts';
import { apiServiceDefinition, CALLS_METHOD, encodeJson, unaryMethods } from './api-service.ts';
import { rejection } from './api-testing.ts';

interface FakeServer {
  readonly address: string;
  readonly calls: string[];
  readonly server: grpc.Server;
}

/**
 * A server of the API service that answers every call (unary, or on a Calls stream) with `answer`,
 * or takes it and drops its connection when `answer` is 'drop'.
 */
async function fakeServer(answer: object | 'drop'): Promise<FakeServer> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of unaryMethods) {
    handlers[method] = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls.push(method);
      if (answer === 'drop') setImmediate(() => server.forceShutdown());
      else callback(null, encodeJson(answer));
    };
  }
  handlers[CALLS_METHOD] = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    call.on('data', (bytes: Buffer) => {
      const frame = decodeCallFrame(bytes);
      assert.ok(typeof frame !== 'string', String(frame));
      calls.push(frame.method);
      if (answer === 'drop') setImmediate(() => server.forceShutdown());
      else call.write(encodeAnswerFrame(frame.id, { ok: true, body: encodeJson(answer) }));
    });
    call.on('end', () => call.end());
  };
  server.addService(apiServiceDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, calls, server };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function client(addresses: string[]): ApiClient {
  const c = new ApiClient({ addresses, timeoutMs: 3000, connectTimeoutMs: 1000 });
  cleanups.push(() => c.close());
  return c;
}

test('a write sent and then lost with its connection has an unknown outcome and is not retried; a read moves on', async () => {
  const dropping = await fakeServer('drop');
  const good = await fakeServer({ servedBy: 'm2', appliedIndex: 9, services: [], total: 0 });
  cleanups.push(() => good.server.forceShutdown());
  const error = await rejection(client([dropping.address, good.address]).serviceCreate({ spec: { name: 'x', image: 'y' } }));
  assert.equal(error.outcome, 'unknown');
  assert.equal(error.servedBy, null);
  assert.match(error.message, new RegExp(`^outcome unknown; the request may have been applied; check before retrying \\(ServiceCreate was sent to ${dropping.address} and the call failed without an answer: `));
  assert.deepEqual(dropping.calls, ['ServiceCreate']);
  assert.deepEqual(good.calls, [], 'the write was not sent to another manager');

  const droppingAgain = await fakeServer('drop');
  const list = await client([droppingAgain.address, good.address]).serviceList();
  assert.equal(list.servedBy, 'm2');
  assert.deepEqual(droppingAgain.calls, ['ServiceList']);
  assert.deepEqual(good.calls, ['ServiceList']);
});

test('an unreachable manager is skipped for writes too, and when none answers the error lists every attempt', async () => {
  const good = await fakeServer({ servedBy: 'm3', appliedIndex: 1, id: 'v1', volume: null });
  cleanups.push(() => good.server.forceShutdown());
  const created = await client(['127.0.0.1:1', good.address]).volumeCreate({ name: 'data' });
  assert.equal(created.servedBy, 'm3');
  const error = await rejection(client(['127.0.0.1:1', '127.0.0.1:2']).volumeList());
  assert.equal(error.codeName, 'UNAVAILABLE');
  assert.equal(error.outcome, 'not-applied');
  assert.match(error.message, /^no manager could serve VolumeList \(127\.0\.0\.1:1: could not reach 127\.0\.0\.1:1: the connection attempt failed; 127\.0\.0\.1:2: could not reach 127\.0\.0\.1:2: /);
  assert.throws(() => new ApiClient({ addresses: [] }), /an API client needs 1 to 16 manager addresses, got 0/);
});

test('a follower whose relayed write is lost on the way says the outcome is unknown; a lost relayed read is not-applied', async () => {
  const proposed: unknown[] = [];
  const follower = (leaderAddress: string): ApiManager => ({
    id: nodeId('m2'),
    state: () => new ClusterState(),
    propose: (command) => proposed.push(command),
    leader: () => ({ id: nodeId('m1'), apiAddress: leaderAddress }),
    subscribe: () => () => {},
    appliedIndex: () => 5,
    info: () => ({ clusterId: 'c', term: 3, commitIndex: 5, appliedIndex: 5, managers: [] }),
  });
  for (const [call, outcome] of [['write', 'unknown'], ['read', 'not-applied']] as const) {
    const leader = await fakeServer('drop');
    const server = new ApiServer({ manager: follower(leader.address), listen: '127.0.0.1:0', secretKey: randomBytes(32) });
    const address = `127.0.0.1:${await server.start()}`;
    cleanups.push(() => server.close());
    const c = client([address]);
    const error = await rejection(call === 'write' ? c.secretCreate({ name: 's', value: 'v' }) : c.secretList({ leaderOnly: true }));
    assert.equal(error.codeName, 'UNAVAILABLE');
    assert.equal(error.outcome, outcome);
    assert.equal(error.servedBy, 'm2');
    assert.deepEqual(error.leader, { id: 'm1', apiAddress: leader.address });
    const method = call === 'write' ? 'SecretCreate' : 'SecretList';
    assert.deepEqual(leader.calls, [method], 'the follower relayed the call, once');
    assert.match(error.message, call === 'write'
      ? new RegExp(`^outcome unknown; the request may have been applied; check before retrying \\(manager m2 relayed SecretCreate to the leader m1 at ${leader.address} and the call failed: `)
      : new RegExp(`^manager m2 relayed SecretList to the leader m1 at ${leader.address} and the call failed \\(.*\\); retry$`));
    assert.equal(server.stats().forwardFailures, 1);
  }
  assert.deepEqual(proposed, [], 'a follower proposes nothing itself');
});

test('a write never answered is reported unknown after writeTimeoutMs; subscribers beyond the bound are refused; closing ends streams', async () => {
  const self: ApiManager = {
    id: nodeId('m1'),
    state: () => new ClusterState(),
    propose: () => {}, // a proposal held forever (a disk that stays full, say)
    leader: () => ({ id: nodeId('m1'), apiAddress: null }),
    subscribe: () => () => {},
    appliedIndex: () => 1,
    info: () => ({ clusterId: 'c', term: 1, commitIndex: 1, appliedIndex: 1, managers: [] }),
  };
  const server = new ApiServer({ manager: self, listen: '127.0.0.1:0', secretKey: randomBytes(32), writeTimeoutMs: 50, maxSubscribers: 1 });
  const address = `127.0.0.1:${await server.start()}`;
  cleanups.push(() => server.close());
  const c = client([address]);
  const error = await rejection(c.volumeCreate({ name: 'held' }));
  assert.equal(error.codeName, 'UNAVAILABLE');
  assert.equal(error.outcome, 'unknown');
  assert.equal(error.message, 'outcome unknown; the request may have been applied; check before retrying (manager m1 had no answer for it within 50 ms)');

  const stream = await c.events();
  assert.equal(stream.startIndex, 1);
  const refused = await rejection(c.events());
  assert.equal(refused.codeName, 'RESOURCE_EXHAUSTED');
  assert.equal(refused.message, 'manager m1 already serves 1 event subscribers (the bound maxSubscribers); subscribe to another manager');
  const ended = rejection((async () => {
    for await (const event of stream) assert.fail(`no event expected, got ${JSON.stringify(event)}`);
  })());
  await server.close();
  const shutdown = await ended;
  assert.equal(shutdown.codeName, 'UNAVAILABLE');
  assert.equal(shutdown.message, 'manager m1 is shutting down; subscribe to another manager');
  assert.throws(() => new ApiServer({ manager: self, listen: '127.0.0.1:0', secretKey: randomBytes(32), maxListItems: 0 }), /api server maxListItems must be a positive integer, got 0/);
});
