// The binary format of Raft messages between managers. One gRPC message on the Raft stream is one
// frame, a batch of messages in the order they were sent:
//
//   frame   = u8 format version (1), varint message count, count × (varint length, message)
//   message = u8 type code, string from, string to, varint term, then the fields of its type in the
//             order of core/raft/types.ts:
//     1 vote / 2 pre-vote         varint lastIndex, varint lastTerm, bool transfer
//     3 vote-resp / 4 pre-vote-resp  bool reject
//     5 app                       varint prevIndex, varint prevTerm, varint commit, varint count,
//                                 count × entry
//     6 app-resp                  varint index, bool reject, varint hintIndex, varint hintTerm
//     7 heartbeat                 varint commit, optional string context
//     8 heartbeat-resp            optional string context
//     9 snap                      snapshot meta, varint offset, string chunk, bool done
//    10 snap-resp                 varint snapIndex, varint nextOffset, bool reject
//    11 timeout-now               (nothing)
//    12 read-index                string context
//    13 read-index-resp           string context, varint index, bool reject
//   entry         = varint term, varint index, u8 type (0 normal, 1 conf), string data
//   snapshot meta = varint index, varint term, varint voter count, voters, varint learner count, learners
//
// Integers, booleans and strings are as in wire.ts (varints; 0/1; UTF-8 or UTF-16LE tagged). Each
// message is encoded once, when it is queued, so the queue knows its exact size and a frame is the
// header followed by the queued bytes. Invariant: decode(encode(m)) deep-equals m for every Message,
// and a frame decodes entirely or not at all (a malformed frame delivers nothing).

import type { Entry, Message, NodeId, SnapshotMeta } from '../../core/raft/index.ts';
import { assertNever } from '../../core/assert.ts';
import { ByteReader, ByteWriter, WireDecodeError } from './wire.ts';

export const RAFT_WIRE_VERSION = 1;

const TYPE_CODES = {
  vote: 1,
  'pre-vote': 2,
  'vote-resp': 3,
  'pre-vote-resp': 4,
  app: 5,
  'app-resp': 6,
  heartbeat: 7,
  'heartbeat-resp': 8,
  snap: 9,
  'snap-resp': 10,
  'timeout-now': 11,
  'read-index': 12,
  'read-index-resp': 13,
} as const satisfies Record<Message['type'], number>;

const TYPE_BY_CODE = new Map<number, Message['type']>(Object.entries(TYPE_CODES).map(([type, code]) => [code, type as Message['type']]));
const ENTRY_NORMAL = 0;
const ENTRY_CONF = 1;

/** One message, encoded with its length prefix, ready to be concatenated into a frame. */
export function encodeMessage(message: Message): Buffer {
  const body = new ByteWriter(message.type === 'app' || message.type === 'snap' ? 256 : 64);
  writeMessage(body, message);
  const bytes = body.finish();
  const framed = new ByteWriter(bytes.length + 8);
  framed.varint(bytes.length, 'message length');
  return Buffer.concat([framed.finish(), bytes]);
}

/** A frame from messages encoded by encodeMessage, in order. */
export function encodeFrame(encodedMessages: readonly Buffer[]): Buffer {
  const header = new ByteWriter(16);
  header.u8(RAFT_WIRE_VERSION);
  header.varint(encodedMessages.length, 'message count');
  return Buffer.concat([header.finish(), ...encodedMessages]);
}

export function decodeFrame(frame: Uint8Array): Message[] {
  const reader = new ByteReader(frame);
  const version = reader.u8('frame version');
  if (version !== RAFT_WIRE_VERSION) throw new WireDecodeError(`unsupported raft wire version ${version} (this node speaks ${RAFT_WIRE_VERSION})`);
  const count = reader.varint('message count');
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.varint(`message ${i} length`);
    const end = reader.offset + length;
    const message = readMessage(new ByteReader(frame, reader.offset, Math.min(end, frame.length)), i);
    reader.skip(length, `message ${i}`);
    messages.push(message);
  }
  reader.expectEnd('frame');
  return messages;
}

function writeMessage(w: ByteWriter, m: Message): void {
  w.u8(TYPE_CODES[m.type]);
  w.string(m.from);
  w.string(m.to);
  w.varint(m.term, 'term');
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      w.varint(m.lastIndex, 'lastIndex');
      w.varint(m.lastTerm, 'lastTerm');
      w.bool(m.transfer);
      return;
    case 'vote-resp':
    case 'pre-vote-resp':
      w.bool(m.reject);
      return;
    case 'app':
      w.varint(m.prevIndex, 'prevIndex');
      w.varint(m.prevTerm, 'prevTerm');
      w.varint(m.commit, 'commit');
      w.varint(m.entries.length, 'entry count');
      for (const entry of m.entries) writeEntry(w, entry);
      return;
    case 'app-resp':
      w.varint(m.index, 'index');
      w.bool(m.reject);
      w.varint(m.hintIndex, 'hintIndex');
      w.varint(m.hintTerm, 'hintTerm');
      return;
    case 'heartbeat':
      w.varint(m.commit, 'commit');
      w.optionalString(m.context);
      return;
    case 'heartbeat-resp':
      w.optionalString(m.context);
      return;
    case 'snap':
      writeSnapshotMeta(w, m.meta);
      w.varint(m.offset, 'offset');
      w.string(m.chunk);
      w.bool(m.done);
      return;
    case 'snap-resp':
      w.varint(m.snapIndex, 'snapIndex');
      w.varint(m.nextOffset, 'nextOffset');
      w.bool(m.reject);
      return;
    case 'timeout-now':
      return;
    case 'read-index':
      w.string(m.context);
      return;
    case 'read-index-resp':
      w.string(m.context);
      w.varint(m.index, 'index');
      w.bool(m.reject);
      return;
    default:
      assertNever(m, 'message');
  }
}

function readMessage(r: ByteReader, position: number): Message {
  const code = r.u8('message type');
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new WireDecodeError(`message ${position}: unknown type code ${code}`);
  const from = r.string('from') as NodeId;
  const to = r.string('to') as NodeId;
  const term = r.varint('term');
  const message = readBody(r, type, from, to, term);
  r.expectEnd(`message ${position} (${type})`);
  return message;
}

function readBody(r: ByteReader, type: Message['type'], from: NodeId, to: NodeId, term: number): Message {
  switch (type) {
    case 'vote':
    case 'pre-vote':
      return { type, from, to, term, lastIndex: r.varint('lastIndex'), lastTerm: r.varint('lastTerm'), transfer: r.bool('transfer') };
    case 'vote-resp':
    case 'pre-vote-resp':
      return { type, from, to, term, reject: r.bool('reject') };
    case 'app': {
      const prevIndex = r.varint('prevIndex');
      const prevTerm = r.varint('prevTerm');
      const commit = r.varint('commit');
      const count = r.varint('entry count');
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) entries.push(readEntry(r));
      return { type, from, to, term, prevIndex, prevTerm, entries, commit };
    }
    case 'app-resp':
      return { type, from, to, term, index: r.varint('index'), reject: r.bool('reject'), hintIndex: r.varint('hintIndex'), hintTerm: r.varint('hintTerm') };
    case 'heartbeat':
      return { type, from, to, term, commit: r.varint('commit'), context: r.optionalString('context') };
    case 'heartbeat-resp':
      return { type, from, to, term, context: r.optionalString('context') };
    case 'snap':
      return { type, from, to, term, meta: readSnapshotMeta(r), offset: r.varint('offset'), chunk: r.string('chunk'), done: r.bool('done') };
    case 'snap-resp':
      return { type, from, to, term, snapIndex: r.varint('snapIndex'), nextOffset: r.varint('nextOffset'), reject: r.bool('reject') };
    case 'timeout-now':
      return { type, from, to, term };
    case 'read-index':
      return { type, from, to, term, context: r.string('context') };
    case 'read-index-resp':
      return { type, from, to, term, context: r.string('context'), index: r.varint('index'), reject: r.bool('reject') };
    default:
      return assertNever(type, 'message type');
  }
}

function writeEntry(w: ByteWriter, entry: Entry): void {
  w.varint(entry.term, 'entry term');
  w.varint(entry.index, 'entry index');
  w.u8(entry.type === 'conf' ? ENTRY_CONF : ENTRY_NORMAL);
  w.string(entry.data);
}

function readEntry(r: ByteReader): Entry {
  const term = r.varint('entry term');
  const index = r.varint('entry index');
  const code = r.u8('entry type');
  if (code !== ENTRY_NORMAL && code !== ENTRY_CONF) throw new WireDecodeError(`entry ${index}: unknown entry type ${code}`);
  return { term, index, type: code === ENTRY_CONF ? 'conf' : 'normal', data: r.string('entry data') };
}

function writeSnapshotMeta(w: ByteWriter, meta: SnapshotMeta): void {
  w.varint(meta.index, 'snapshot index');
  w.varint(meta.term, 'snapshot term');
  for (const ids of [meta.conf.voters, meta.conf.learners]) {
    w.varint(ids.length, 'member count');
    for (const id of ids) w.string(id);
  }
}

function readSnapshotMeta(r: ByteReader): SnapshotMeta {
  const index = r.varint('snapshot index');
  const term = r.varint('snapshot term');
  const readIds = (what: string): NodeId[] => {
    const count = r.varint(`${what} count`);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) ids.push(r.string(what) as NodeId);
    return ids;
  };
  const voters = readIds('voter');
  const learners = readIds('learner');
  return { index, term, conf: { voters, learners } };
}
