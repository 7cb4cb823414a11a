// Test support for the gRPC adapter's tests: one message of every variant between two nodes (with
// awkward strings: multi-byte, astral, a lone surrogate, empty), a fast-check arbitrary over all
// messages, transports on loopback with OS-chosen ports, and polling waits bounded by a deadline.

import fc from 'fast-check';
import { nodeId, type Entry, type Message, type NodeId, type SnapshotMeta } from '../../core/raft/index.ts';
import { RaftTransport } from './raft-transport.ts';
import type { RaftTransportOptions } from './options.ts';

export const AWKWARD_STRINGS: readonly string[] = ['', 'put x=1', 'é€😀', 'lone \uD800 surrogate', '\uDC00', 'x'.repeat(300)];

/** One message of each of the 13 variants, from `from` to `to`, with the given term. */
export function everyVariant(from: NodeId, to: NodeId, term: number): Message[] {
  const entries: Entry[] = AWKWARD_STRINGS.map((data, i) => ({ term, index: 100 + i, type: i === 1 ? 'conf' : 'normal', data }));
  const meta: SnapshotMeta = { index: 99, term: term - 1, conf: { voters: [from, to, nodeId('n3')], learners: [nodeId('learner-é')] } };
  const e = { from, to, term };
  return [
    { ...e, type: 'vote', lastIndex: 7, lastTerm: 3, transfer: false },
    { ...e, type: 'pre-vote', lastIndex: 2 ** 40, lastTerm: 2 ** 33, transfer: true },
    { ...e, type: 'vote-resp', reject: true },
    { ...e, type: 'pre-vote-resp', reject: false },
    { ...e, type: 'app', prevIndex: 99, prevTerm: term - 1, entries, commit: 98 },
    { ...e, type: 'app', prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    { ...e, type: 'app-resp', index: 105, reject: true, hintIndex: 50, hintTerm: 2 },
    { ...e, type: 'heartbeat', commit: 98, context: null },
    { ...e, type: 'heartbeat', commit: 98, context: 'read-1 \uD83D' },
    { ...e, type: 'heartbeat-resp', context: null },
    { ...e, type: 'heartbeat-resp', context: '' },
    { ...e, type: 'snap', meta, offset: 0, chunk: 'state part 1 😀', done: false },
    { ...e, type: 'snap', meta, offset: 65536, chunk: 'z'.repeat(70_000), done: true },
    { ...e, type: 'snap-resp', snapIndex: 99, nextOffset: 65536, reject: false },
    { ...e, type: 'timeout-now' },
    { ...e, type: 'read-index', context: 'ctx-42' },
    { ...e, type: 'read-index-resp', context: 'ctx-42', index: 104, reject: false },
  ];
}

/** fc.record without null-prototype objects (the codec builds plain objects, deepStrictEqual compares prototypes). */
const record = <T,>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });
const arbId = fc.string({ maxLength: 12 }).map(nodeId);
const arbInt = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
/** Text from any code points, plus lone surrogate halves (which JSON and plain UTF-8 would mangle). */
const arbText = fc.string({ maxLength: 30, unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }), fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF')) });
const arbEntry = record({ term: arbInt, index: arbInt, type: fc.constantFrom('normal' as const, 'conf' as const), data: arbText });
const arbMeta = record({ index: arbInt, term: arbInt, conf: record({ voters: fc.array(arbId, { maxLength: 5 }), learners: fc.array(arbId, { maxLength: 3 }) }) });

/** Any Message, with any safe integers and any strings (lone surrogates included). */
export const arbMessage: fc.Arbitrary<Message> = record({ from: arbId, to: arbId, term: arbInt }).chain((e) =>
  fc.oneof(
    record({ type: fc.constantFrom('vote' as const, 'pre-vote' as const), lastIndex: arbInt, lastTerm: arbInt, transfer: fc.boolean() }),
    record({ type: fc.constantFrom('vote-resp' as const, 'pre-vote-resp' as const), reject: fc.boolean() }),
    record({ type: fc.constant('app' as const), prevIndex: arbInt, prevTerm: arbInt, entries: fc.array(arbEntry, { maxLength: 5 }), commit: arbInt }),
    record({ type: fc.constant('app-resp' as const), index: arbInt, reject: fc.boolean(), hintIndex: arbInt, hintTerm: arbInt }),
    record({ type: fc.constant('heartbeat' as const), commit: arbInt, context: fc.option(arbText, { nil: null }) }),
    record({ type: fc.constant('heartbeat-resp' as const), context: fc.option(arbText, { nil: null }) }),
    record({ type: fc.constant('snap' as const), meta: arbMeta, offset: arbInt, chunk: arbText, done: fc.boolean() }),
    record({ type: fc.constant('snap-resp' as const), snapIndex: arbInt, nextOffset: arbInt, reject: fc.boolean() }),
    record({ type: fc.constant('timeout-now' as const) }),
    record({ type: fc.constant('read-index' as const), context: arbText }),
    record({ type: fc.constant('read-index-resp' as const), context: arbText, index: arbInt, reject: fc.boolean() }),
  ).map((body) => ({ ...e, ...body }) as Message),
);

export const CLUSTER = 'cluster-test';

/** Transports for `ids`, all started on 127.0.0.1 with OS-chosen ports, each knowing the others. */
export async function startMesh(ids: readonly NodeId[], extra: Partial<RaftTransportOptions> = {}): Promise<Map<NodeId, RaftTransport>> {
  const transports = new Map<NodeId, RaftTransport>();
  const addresses = new Map<NodeId, string>();
  for (const id of ids) {
    const transport = new RaftTransport({ id, clusterId: CLUSTER, listen: '127.0.0.1:0', peers: new Map(), ...extra });
    addresses.set(id, `127.0.0.1:${await transport.start()}`);
    transports.set(id, transport);
  }
  for (const transport of transports.values()) transport.setPeers(addresses);
  return transports;
}

/** Polls `condition` every few ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
