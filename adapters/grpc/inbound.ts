// The receiving side of the Raft transport: the handler of the Stream call (raft-service.ts). It
// checks who is calling before reading anything, acknowledges an accepted stream with response
// headers, decodes each frame whole and hands its messages to the delivery function in order.
// Invariants:
//   - at most one stream per sending node delivers: a newer stream from the same node ends the older
//     one (ABORTED), whose later frames are ignored, so a node's messages are delivered in the order
//     it sent them on its current stream;
//   - a message is delivered only if it is addressed to this node and comes from the node the stream
//     was opened by; others are counted (misaddressed / misattributed) and logged once per stream;
//   - a frame that does not decode delivers nothing and ends the stream with INVALID_ARGUMENT.

import * as grpc from '@grpc/grpc-js';
import type { Message, NodeId } from '../../core/raft/index.ts';
import type { TransportLogger } from './options.ts';
import { decodeFrame } from './raft-codec.ts';
import { checkStream, raftAck, type RaftAck, type StreamCheck } from './raft-service.ts';
import { WireDecodeError } from './wire.ts';

export interface InboundPeerStats {
  /** Streams accepted from this node. */
  readonly streams: number;
  readonly receivedMessages: number;
  /** Frame bytes received on accepted streams. */
  readonly receivedBytes: number;
  readonly receivedFrames: number;
}

export type RefusalReason = Extract<StreamCheck, { ok: false }>['reason'];

export interface InboundStats {
  readonly peers: Readonly<Record<string, InboundPeerStats>>;
  readonly refusedStreams: Readonly<Record<RefusalReason, number>>;
  /** Messages on an accepted stream addressed to another node id than ours. */
  readonly misaddressedMessages: number;
  /** Messages whose `from` is not the node that opened the stream. */
  readonly misattributedMessages: number;
  readonly decodeErrors: number;
  /** Messages the delivery function threw on. */
  readonly handlerErrors: number;
}

interface ActiveStream {
  readonly from: NodeId;
  readonly finish: (status: Partial<grpc.StatusObject> | null) => void;
  done: boolean;
  warnedMisaddressed: boolean;
}

type StreamCall = grpc.ServerReadableStream<Buffer, RaftAck>;

export class Inbound {
  private readonly active = new Map<NodeId, ActiveStream>();
  private readonly peers = new Map<string, { streams: number; receivedMessages: number; receivedBytes: number; receivedFrames: number }>();
  private readonly refused: Record<RefusalReason, number> = { 'bad-metadata': 0, 'wrong-cluster': 0, 'wrong-node': 0, 'wire-version': 0 };
  private readonly refusalsLogged = new Set<string>();
  private misaddressed = 0;
  private misattributed = 0;
  private decodeErrors = 0;
  private handlerErrors = 0;
  private closed = false;

  constructor(
    private readonly self: NodeId,
    private readonly clusterId: string,
    private readonly logger: TransportLogger,
    private readonly deliver: (message: Message) => void,
  ) {}

  /** The server-side implementation of Stream. */
  readonly handle = (call: StreamCall, callback: grpc.sendUnaryData<RaftAck>): void => {
    if (this.closed) {
      callback({ code: grpc.status.UNAVAILABLE, details: `node ${this.self} is shutting down` });
      return;
    }
    const check = checkStream(call.metadata, this.clusterId, this.self);
    if (!check.ok) {
      this.refused[check.reason]++;
      // A misconfigured peer retries every few seconds: log each distinct refusal once.
      if (!this.refusalsLogged.has(check.message) && this.refusalsLogged.size < 256) {
        this.refusalsLogged.add(check.message);
        this.logger.error({ reason: check.reason, peer: call.getPeer() }, check.message);
      }
      callback({ code: check.code, details: check.message });
      return;
    }
    this.accept(call, callback, check.from);
  };

  /** Ends every stream (the node is closing); streams opened later are refused. */
  closeAll(): void {
    this.closed = true;
    for (const stream of [...this.active.values()]) stream.finish({ code: grpc.status.UNAVAILABLE, details: `node ${this.self} is shutting down` });
  }

  stats(): InboundStats {
    const peers: Record<string, InboundPeerStats> = {};
    for (const id of [...this.peers.keys()].sort()) peers[id] = { ...this.peers.get(id)! };
    return {
      peers,
      refusedStreams: { ...this.refused },
      misaddressedMessages: this.misaddressed,
      misattributedMessages: this.misattributed,
      decodeErrors: this.decodeErrors,
      handlerErrors: this.handlerErrors,
    };
  }

  private peerStats(id: NodeId): { streams: number; receivedMessages: number; receivedBytes: number; receivedFrames: number } {
    let stats = this.peers.get(id);
    if (stats === undefined) {
      stats = { streams: 0, receivedMessages: 0, receivedBytes: 0, receivedFrames: 0 };
      this.peers.set(id, stats);
    }
    return stats;
  }

  private accept(call: StreamCall, callback: grpc.sendUnaryData<RaftAck>, from: NodeId): void {
    const stream: ActiveStream = {
      from,
      done: false,
      warnedMisaddressed: false,
      finish: (status) => {
        if (stream.done) return;
        stream.done = true;
        if (this.active.get(from) === stream) this.active.delete(from);
        if (status === null || status.code === grpc.status.OK) callback(null, raftAck);
        else callback(status);
      },
    };
    this.active.get(from)?.finish({ code: grpc.status.ABORTED, details: `superseded by a newer raft stream from node ${from}` });
    this.active.set(from, stream);
    this.peerStats(from).streams++;
    call.on('data', (frame: Buffer) => this.onFrame(stream, frame));
    call.on('end', () => stream.finish(null));
    // The sender cancelled or the connection broke: there is no one left to answer.
    const gone = (): void => stream.finish({ code: grpc.status.CANCELLED, details: 'the sender went away' });
    call.on('cancelled', gone);
    call.on('error', gone);
    call.on('close', gone);
    call.sendMetadata(new grpc.Metadata());
  }

  private onFrame(stream: ActiveStream, frame: Buffer): void {
    if (stream.done) return;
    let messages: Message[];
    try {
      messages = decodeFrame(frame);
    } catch (error) {
      if (!(error instanceof WireDecodeError)) throw error;
      this.decodeErrors++;
      this.logger.error({ peer: stream.from, bytes: frame.length, error: error.message }, 'malformed raft frame; ending the stream');
      stream.finish({ code: grpc.status.INVALID_ARGUMENT, details: `malformed raft frame from node ${stream.from}: ${error.message}` });
      return;
    }
    const stats = this.peerStats(stream.from);
    stats.receivedFrames++;
    stats.receivedBytes += frame.length;
    for (const message of messages) {
      if (message.to !== this.self || message.from !== stream.from) {
        this.refuseMessage(stream, message);
        continue;
      }
      stats.receivedMessages++;
      try {
        this.deliver(message);
      } catch (error) {
        this.handlerErrors++;
        this.logger.error({ peer: stream.from, type: message.type, error: error instanceof Error ? error.message : String(error) }, 'raft message handler threw');
      }
    }
  }

  private refuseMessage(stream: ActiveStream, message: Message): void {
    if (message.to !== this.self) this.misaddressed++;
    else this.misattributed++;
    if (stream.warnedMisaddressed) return;
    stream.warnedMisaddressed = true;
    this.logger.error(
      { peer: stream.from, from: message.from, to: message.to, type: message.type },
      `node ${this.self} refuses a raft message from ${message.from} to ${message.to} on node ${stream.from}'s stream: it was meant for another node or claims another sender`,
    );
  }
}
