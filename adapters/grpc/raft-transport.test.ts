// The Raft transport on real loopback sockets (ports chosen by the OS): exact delivery of every
// message variant in order per peer, batching, reconnection with backoff to a peer that was down,
// bounded queues when a peer never reads or never answers, and a close() that lets the process exit.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { nodeId, type Message, type NodeId } from '../../core/raft/index.ts';
import { RaftTransport } from './raft-transport.ts';
import { raftServiceDefinition, type RaftAck } from './raft-service.ts';
import { CLUSTER, everyVariant, sleep, startMesh, waitFor } from './testing.ts';

const [n1, n2, n3] = ['n1', 'n2', 'n3'].map(nodeId) as [NodeId, NodeId, NodeId];

function closeAfter(t: TestContext, transports: Iterable<RaftTransport>): void {
  const list = [...transports];
  t.after(() => Promise.all(list.map((transport) => transport.close())));
}

/** Received messages by sender, for one transport. */
function recorder(transport: RaftTransport): Map<NodeId, Message[]> {
  const bySender = new Map<NodeId, Message[]>();
  transport.onMessage((message) => {
    const list = bySender.get(message.from) ?? [];
    list.push(message);
    bySender.set(message.from, list);
  });
  return bySender;
}

const heartbeat = (from: NodeId, to: NodeId, commit: number): Message => ({ type: 'heartbeat', from, to, term: 1, commit, context: null });
const commits = (messages: readonly Message[] | undefined): number[] => (messages ?? []).map((m) => (m.type === 'heartbeat' ? m.commit : -1));

test('three transports exchange every message variant exactly, in order per peer', async (t) => {
  const mesh = await startMesh([n1, n2, n3]);
  closeAfter(t, mesh.values());
  const received = new Map([...mesh].map(([id, transport]) => [id, recorder(transport)]));
  const expected = new Map<string, Message[]>();
  // Twenty rounds, each one send() per sender with every variant for both peers, interleaved.
  for (let term = 2; term < 22; term++) {
    for (const [from, transport] of mesh) {
      const batch: Message[] = [];
      for (const to of [n1, n2, n3]) {
        if (to === from) continue;
        const messages = everyVariant(from, to, term);
        batch.push(...messages);
        expected.set(`${from}->${to}`, [...(expected.get(`${from}->${to}`) ?? []), ...messages]);
      }
      transport.send(batch);
    }
    if (term % 5 === 0) await sleep(5); // let some rounds travel on an established stream
  }
  const total = [...expected.values()].reduce((sum, list) => sum + list.length, 0);
  const count = (): number => [...received.values()].reduce((sum, bySender) => sum + [...bySender.values()].reduce((s, l) => s + l.length, 0), 0);
  await waitFor(`${total} messages`, () => count() === total);
  for (const [pair, messages] of expected) {
    const [from, to] = pair.split('->') as [NodeId, NodeId];
    assert.deepStrictEqual(received.get(to)!.get(from), messages, pair);
  }
  const stats = mesh.get(n1)!.stats();
  assert.equal(stats.outbound[n2]!.droppedMessages, 0);
  assert.equal(stats.outbound[n2]!.sentMessages, expected.get(`${n1}->${n2}`)!.length);
  assert.equal(stats.peers[n2]!.receivedMessages, expected.get(`${n2}->${n1}`)!.length);
  assert.equal(stats.outbound[n2]!.connects, 1);
});

test('many sends made while the stream is busy go out in a few frames', async (t) => {
  const mesh = await startMesh([n1, n2]);
  closeAfter(t, mesh.values());
  const got = recorder(mesh.get(n2)!);
  const a = mesh.get(n1)!;
  // Establish the stream first, so the burst below is batched by the writable stream, not by connecting.
  a.send([heartbeat(n1, n2, 0)]);
  await waitFor('first message', () => (got.get(n1)?.length ?? 0) === 1);
  const framesBefore = a.stats().outbound[n2]!.sentFrames;
  for (let i = 1; i <= 3000; i++) a.send([heartbeat(n1, n2, i)]); // within the default 4096-message bound
  await waitFor('3000 messages', () => (got.get(n1)?.length ?? 0) === 3001);
  const frames = a.stats().outbound[n2]!.sentFrames - framesBefore;
  assert.ok(frames >= 1 && frames <= 3, `3000 sends went out in ${frames} frames`);
  assert.deepStrictEqual(commits(got.get(n1)), Array.from({ length: 3001 }, (_, i) => i));
  assert.ok(mesh.get(n2)!.stats().peers[n1]!.receivedFrames <= 4);
});

test('a peer that is down is retried with backoff, and receives what is sent once it is up', async (t) => {
  // Learn a free port by binding and closing a transport there; the peer comes back on it later.
  const probe = new RaftTransport({ id: n2, clusterId: CLUSTER, listen: '127.0.0.1:0', peers: new Map() });
  const port = await probe.start();
  await probe.close();
  const a = new RaftTransport({ id: n1, clusterId: CLUSTER, listen: '127.0.0.1:0', peers: new Map([[n2, `127.0.0.1:${port}`]]) });
  await a.start();
  closeAfter(t, [a]);
  let commit = 0;
  const downMs = 700;
  const startedAt = Date.now();
  while (Date.now() - startedAt < downMs) {
    a.send([heartbeat(n1, n2, commit++)]);
    await sleep(10);
  }
  const down = a.stats().outbound[n2]!;
  assert.equal(down.connects, 0);
  // With 50 ms doubling to 2 s and a floor of half the ceiling, 0.7 s allows about 5 attempts; a
  // retry loop without backoff would make hundreds. Loose on purpose: no timing can flake here.
  assert.ok(down.reconnects >= 2 && down.reconnects <= 12, `reconnects while down: ${down.reconnects}`);
  assert.match(down.lastError ?? '', /UNAVAILABLE/);

  const b = new RaftTransport({ id: n2, clusterId: CLUSTER, listen: `127.0.0.1:${port}`, peers: new Map() });
  const got = recorder(b);
  await b.start();
  closeAfter(t, [b]);
  const firstAfterUp = commit;
  const deadline = Date.now() + 8000;
  while (!commits(got.get(n1)).includes(firstAfterUp + 20) && Date.now() < deadline) {
    a.send([heartbeat(n1, n2, commit++)]);
    await sleep(10);
  }
  const seen = commits(got.get(n1));
  const after = seen.filter((c) => c >= firstAfterUp);
  assert.ok(after.length > 20, `received ${after.length} messages sent after the peer came up`);
  const up = a.stats().outbound[n2]!;
  assert.equal(up.connects, 1);
  assert.equal(up.state, 'connected');
  assert.ok(up.reconnects >= down.reconnects + 1);
  // Nothing lost, nothing reordered: the queue held what was sent while the peer was down (far below
  // its bound), and everything arrived in the order it was sent.
  assert.equal(up.droppedMessages, 0);
  assert.deepStrictEqual(seen, Array.from({ length: seen.length }, (_, i) => i));
});

test('send() never throws: unencodable and oversize messages, unknown peers and sends after close() are counted', async (t) => {
  const mesh = await startMesh([n1, n2], { maxFrameBytes: 4096, maxQueueBytes: 8192 });
  closeAfter(t, mesh.values());
  const got = recorder(mesh.get(n2)!);
  const a = mesh.get(n1)!;
  const tooBig: Message = { type: 'snap', from: n1, to: n2, term: 1, meta: { index: 1, term: 1, conf: { voters: [n1], learners: [] } }, offset: 0, chunk: 'x'.repeat(5000), done: true };
  assert.doesNotThrow(() => a.send([{ type: 'vote-resp', from: n1, to: n2, term: -1, reject: false }, tooBig, heartbeat(n1, nodeId('n9'), 0), heartbeat(n1, n2, 7)]));
  await waitFor('the valid message', () => (got.get(n1)?.length ?? 0) === 1);
  assert.deepStrictEqual(commits(got.get(n1)), [7]);
  const s = a.stats();
  assert.equal(s.outbound[n2]!.drops.unencodable, 1);
  assert.equal(s.outbound[n2]!.drops.oversize, 1);
  assert.equal(s.unknownPeerMessages, 1);
  await a.close();
  assert.doesNotThrow(() => a.send([heartbeat(n1, n2, 8)]));
  assert.equal(a.stats().undeliveredMessages, 1);
});

/** A gRPC server speaking the Raft service that accepts every stream and never reads from it. */
async function deafPeer(t: TestContext): Promise<number> {
  const server = new grpc.Server();
  server.addService(raftServiceDefinition, {
    Stream: (call: grpc.ServerReadableStream<Buffer, RaftAck>) => {
      call.sendMetadata(new grpc.Metadata());
      call.pause();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  return port;
}

const bigApp = (i: number): Message => ({
  type: 'app',
  from: n1,
  to: n2,
  term: 1,
  prevIndex: i,
  prevTerm: 1,
  commit: 0,
  entries: [{ term: 1, index: i + 1, type: 'normal', data: 'x'.repeat(10_000) }],
});

test('a peer that never reads: the queue stays within its bounds and the excess is dropped and counted', async (t) => {
  const port = await deafPeer(t);
  const limits = { maxQueueMessages: 100, maxQueueBytes: 256 * 1024, maxFrameBytes: 64 * 1024 };
  const a = new RaftTransport({ id: n1, clusterId: CLUSTER, listen: '127.0.0.1:0', peers: new Map([[n2, `127.0.0.1:${port}`]]), ...limits });
  await a.start();
  closeAfter(t, [a]);
  const heapBefore = process.memoryUsage().heapUsed;
  let maxQueuedBytes = 0;
  let maxQueued = 0;
  const total = 5000; // about 50 MB offered
  for (let i = 0; i < total; i++) {
    a.send([bigApp(i)]);
    if (i % 50 === 0) await sleep(1);
    const s = a.stats().outbound[n2]!;
    maxQueuedBytes = Math.max(maxQueuedBytes, s.queuedBytes);
    maxQueued = Math.max(maxQueued, s.queuedMessages);
  }
  await sleep(100);
  const s = a.stats().outbound[n2]!;
  assert.equal(s.state, 'connected');
  assert.ok(maxQueued <= limits.maxQueueMessages && maxQueuedBytes <= limits.maxQueueBytes, `queue peaked at ${maxQueued} messages, ${maxQueuedBytes} bytes`);
  assert.ok(s.drops.overflow > total / 2, `overflow drops ${s.drops.overflow}`);
  assert.equal(s.enqueuedMessages, total);
  assert.equal(s.enqueuedMessages, s.sentMessages + s.droppedMessages + s.queuedMessages + s.inFlightMessages, 'every message accounted for');
  // What left the process is what gRPC and the kernel buffer for a stalled stream, a few MB at most.
  assert.ok(s.sentBytes < 8 * 1024 * 1024, `sent ${s.sentBytes} bytes to a peer that reads nothing`);
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 40 * 1024 * 1024, 'heap did not grow with the 50 MB offered');
  t.diagnostic(`deaf peer: ${s.sentBytes} bytes absorbed by gRPC/kernel buffers, ${s.drops.overflow} of ${total} messages dropped, queue peak ${maxQueued} messages / ${maxQueuedBytes} bytes`);
});

test('a peer that accepts TCP but never answers: the stream is abandoned after the connect timeout and retried, the queue stays bounded', async (t) => {
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const blackHole = createServer((socket) => {
    socket.pause();
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    blackHole.close();
  });
  const port = (blackHole.address() as import('node:net').AddressInfo).port;
  const a = new RaftTransport({ id: n1, clusterId: CLUSTER, listen: '127.0.0.1:0', peers: new Map([[n2, `127.0.0.1:${port}`]]), connectTimeoutMs: 150, maxQueueMessages: 50 });
  await a.start();
  closeAfter(t, [a]);
  for (let i = 0; i < 500; i++) a.send([heartbeat(n1, n2, i)]);
  await waitFor('two abandoned attempts', () => a.stats().outbound[n2]!.reconnects >= 2, 5000);
  const s = a.stats().outbound[n2]!;
  assert.equal(s.connects, 0);
  assert.match(s.lastError ?? '', /not accepted within 150 ms/);
  assert.equal(s.queuedMessages, 50);
  assert.equal(s.drops.overflow, 450);
  assert.deepStrictEqual(s.sentMessages, 0);
});

/** The exit code, or 'still running' after ms (the timer is cleared so it holds nothing open). */
async function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('close() ends every stream, timer and server: the process exits by itself (and would not without it)', async (t) => {
  const child = fileURLToPath(new URL('./close-child.ts', import.meta.url));
  const run = (mode: string) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Whatever happens below, no child may outlive the test (its pipes would keep this process up).
    t.after(() => void proc.kill('SIGKILL'));
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const report = async (): Promise<{ received: number; expected: number; resources: string[] }> => {
      await waitFor(`the ${mode} child's report`, () => out.includes('\n'), 15_000);
      return JSON.parse(out.split('\n')[0]!);
    };
    return { exited, report };
  };
  const closing = run('close');
  const leaking = run('leak');
  const closed = await closing.report();
  assert.equal(closed.received, closed.expected);
  // Sockets may take a moment to finish closing; the listening ones are gone once close() resolved.
  assert.ok(!closed.resources.includes('TCPServerWrap'), `resources left after close(): ${closed.resources.join(', ')}`);
  assert.equal(await exitWithin(closing.exited, 5000), 0, 'the child exits by itself once every transport is closed');
  // Without close() on one transport, its server and timers keep the process alive.
  const leaked = await leaking.report();
  assert.ok(leaked.resources.includes('TCPServerWrap'), `resources left: ${leaked.resources.join(', ')}`);
  assert.equal(await exitWithin(leaking.exited, 1000), 'still running');
});
