// What the Raft transport refuses, on real loopback sockets: a node of another cluster, a stream
// that reached the wrong node (a peer's address is misconfigured), messages on an accepted stream
// that are addressed to another node or claim another sender, malformed frames. Also stream
// takeover by a newer stream from the same node, and membership changes through setPeers().

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { nodeId, type Message, type NodeId } from '../../core/raft/index.ts';
import { RaftTransport } from './raft-transport.ts';
import { encodeFrame, encodeMessage } from './raft-codec.ts';
import { raftServiceDefinition, RAFT_STREAM_PATH, streamMetadata, type StreamIdentity } from './raft-service.ts';
import { CLUSTER, waitFor } from './testing.ts';

const [n1, n2, n3] = ['n1', 'n2', 'n3'].map(nodeId) as [NodeId, NodeId, NodeId];

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

async function node(t: TestContext, id: NodeId, clusterId = CLUSTER, peers = new Map<NodeId, string>()): Promise<{ transport: RaftTransport; address: string; received: Message[]; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const logger = {
    info: (fields: Record<string, unknown>, message: string) => logs.push({ level: 'info', fields, message }),
    warn: (fields: Record<string, unknown>, message: string) => logs.push({ level: 'warn', fields, message }),
    error: (fields: Record<string, unknown>, message: string) => logs.push({ level: 'error', fields, message }),
  };
  const transport = new RaftTransport({ id, clusterId, listen: '127.0.0.1:0', peers, logger });
  const received: Message[] = [];
  transport.onMessage((message) => received.push(message));
  const address = `127.0.0.1:${await transport.start()}`;
  t.after(() => transport.close());
  return { transport, address, received, logs };
}

interface RawStream {
  readonly call: grpc.ClientWritableStream<Buffer>;
  readonly status: Promise<grpc.ServiceError | null>;
  readonly accepted: Promise<void>;
}

/** A hand-driven stream to `address` with the given identity, as a buggy or foreign sender would open it. */
function rawStream(t: TestContext, address: string, identity: StreamIdentity | grpc.Metadata): RawStream {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  t.after(() => client.close());
  let call!: grpc.ClientWritableStream<Buffer>;
  const status = new Promise<grpc.ServiceError | null>((resolve) => {
    call = client.makeClientStreamRequest(RAFT_STREAM_PATH, raftServiceDefinition.Stream.requestSerialize, raftServiceDefinition.Stream.responseDeserialize, identity instanceof grpc.Metadata ? identity : streamMetadata(identity), {}, (error) =>
      resolve(error),
    );
  });
  const accepted = new Promise<void>((resolve) => call.on('metadata', () => resolve()));
  return { call, status, accepted };
}

const vote = (from: NodeId, to: NodeId, term: number): Message => ({ type: 'vote', from, to, term, lastIndex: 0, lastTerm: 0, transfer: false });

test('a node of another cluster is refused with FAILED_PRECONDITION naming both cluster ids', async (t) => {
  const b = await node(t, n2, 'cluster-blue');
  const raw = rawStream(t, b.address, { clusterId: 'cluster-green', from: n1, to: n2 });
  raw.call.write(encodeFrame([encodeMessage(vote(n1, n2, 1))]));
  const error = await raw.status;
  assert.equal(error?.code, grpc.status.FAILED_PRECONDITION);
  assert.match(error!.details, /cluster-blue/);
  assert.match(error!.details, /cluster-green/);
  assert.match(error!.details, /node n2 .* refuses node n1/);

  // The same through a transport: it keeps retrying (the operator may fix it) and counts refusals.
  const a = await node(t, n1, 'cluster-green', new Map([[n2, b.address]]));
  a.transport.send([vote(n1, n2, 1)]);
  await waitFor('a refusal', () => a.transport.stats().outbound[n2]!.refusals >= 1);
  assert.match(a.transport.stats().outbound[n2]!.lastError ?? '', /^FAILED_PRECONDITION: cluster id mismatch/);
  assert.ok(b.transport.stats().refusedStreams['wrong-cluster'] >= 2);
  assert.deepStrictEqual(b.received, []);
  // One error line per distinct refusal, however often the foreign node retries.
  const refusals = b.logs.filter((line) => line.level === 'error' && /cluster id mismatch/.test(line.message));
  assert.equal(refusals.length, 1);
  assert.equal(a.logs.filter((line) => line.level === 'error' && line.message === 'peer refused the raft stream').length, 1);
});

test('a stream that reached the wrong node (misconfigured address) is refused, naming the three nodes involved', async (t) => {
  const c = await node(t, n3);
  // n1 believes n2 lives at n3's address.
  const a = await node(t, n1, CLUSTER, new Map([[n2, c.address]]));
  a.transport.send([vote(n1, n2, 1)]);
  await waitFor('a refusal', () => a.transport.stats().outbound[n2]!.refusals >= 1);
  assert.match(a.transport.stats().outbound[n2]!.lastError ?? '', /^FAILED_PRECONDITION: node n1 addressed node n2 but reached node n3/);
  assert.ok(c.transport.stats().refusedStreams['wrong-node'] >= 1);
  assert.deepStrictEqual(c.received, []);
});

test('on an accepted stream, messages for another node or from another sender are refused and counted; the rest are delivered', async (t) => {
  const b = await node(t, n2);
  const raw = rawStream(t, b.address, { clusterId: CLUSTER, from: n1, to: n2 });
  await raw.accepted;
  raw.call.write(encodeFrame([vote(n1, n2, 1), vote(n1, n3, 2), vote(n3, n2, 3), vote(n1, n2, 4)].map(encodeMessage)));
  await waitFor('two deliveries', () => b.received.length === 2);
  assert.deepStrictEqual(b.received.map((m) => m.term), [1, 4]);
  const stats = b.transport.stats();
  assert.equal(stats.misaddressedMessages, 1);
  assert.equal(stats.misattributedMessages, 1);
  assert.equal(stats.peers[n1]!.receivedMessages, 2);
  assert.equal(b.logs.filter((line) => line.level === 'error' && /refuses a raft message/.test(line.message)).length, 1, 'logged once per stream');
  raw.call.end();
  assert.equal(await raw.status, null, 'the stream ends cleanly');
});

test('a stream without its identity metadata, or with another wire version, is refused before anything is read', async (t) => {
  const b = await node(t, n2);
  const missing = new grpc.Metadata();
  missing.set('warren-cluster-id', CLUSTER);
  const bare = rawStream(t, b.address, missing);
  const refused = await bare.status;
  assert.equal(refused?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(refused!.details, /lacks metadata warren-from-node, warren-to-node, warren-raft-wire/);
  const future = streamMetadata({ clusterId: CLUSTER, from: n1, to: n2 });
  future.set('warren-raft-wire', '99');
  const newer = rawStream(t, b.address, future);
  const versionError = await newer.status;
  assert.equal(versionError?.code, grpc.status.FAILED_PRECONDITION);
  assert.match(versionError!.details, /node n1 speaks raft wire version 99; node n2 speaks 1/);
  assert.deepStrictEqual(b.transport.stats().refusedStreams, { 'bad-metadata': 1, 'wrong-cluster': 0, 'wrong-node': 0, 'wire-version': 1 });
});

test('a malformed frame delivers nothing and ends the stream with INVALID_ARGUMENT', async (t) => {
  const b = await node(t, n2);
  const raw = rawStream(t, b.address, { clusterId: CLUSTER, from: n1, to: n2 });
  await raw.accepted;
  const frame = encodeFrame([vote(n1, n2, 1), vote(n1, n2, 2)].map(encodeMessage));
  raw.call.write(frame.subarray(0, frame.length - 1));
  const error = await raw.status;
  assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(error!.details, /malformed raft frame from node n1/);
  assert.deepStrictEqual(b.received, []);
  assert.equal(b.transport.stats().decodeErrors, 1);
});

test('a newer stream from the same node takes over: the older one is ended and its later frames ignored', async (t) => {
  const b = await node(t, n2);
  const first = rawStream(t, b.address, { clusterId: CLUSTER, from: n1, to: n2 });
  await first.accepted;
  first.call.write(encodeFrame([encodeMessage(vote(n1, n2, 1))]));
  await waitFor('first delivery', () => b.received.length === 1);
  const second = rawStream(t, b.address, { clusterId: CLUSTER, from: n1, to: n2 });
  await second.accepted;
  const error = await first.status;
  assert.equal(error?.code, grpc.status.ABORTED);
  second.call.write(encodeFrame([encodeMessage(vote(n1, n2, 2))]));
  await waitFor('second delivery', () => b.received.length === 2);
  assert.equal(b.transport.stats().peers[n1]!.streams, 2);
});

test('setPeers: a moved peer is reached at its new address, a removed one is no longer sent to', async (t) => {
  const oldB = await node(t, n2);
  const a = await node(t, n1, CLUSTER, new Map([[n2, oldB.address]]));
  a.transport.send([vote(n1, n2, 1)]);
  await waitFor('delivery at the old address', () => oldB.received.length === 1);
  const newB = await node(t, n2);
  a.transport.setPeers(new Map([[n2, newB.address], [n1, a.address]]));
  a.transport.send([vote(n1, n2, 2)]);
  await waitFor('delivery at the new address', () => newB.received.length === 1);
  assert.equal(newB.received[0]!.term, 2);
  assert.equal(oldB.received.length, 1);
  assert.equal(a.transport.stats().outbound[n2]!.address, newB.address);
  assert.deepStrictEqual(Object.keys(a.transport.stats().outbound), [n2], 'our own id in the peer map is ignored');

  a.transport.setPeers(new Map());
  a.transport.send([vote(n1, n2, 3)]);
  assert.equal(a.transport.stats().unknownPeerMessages, 1);
  assert.deepStrictEqual(a.transport.stats().outbound, {});
});
