// The outbound side of the Raft transport for one peer: a bounded queue (outbound-queue.ts) drained
// into one long-lived client-streaming call (raft-service.ts). States:
//   idle -> connecting (call opened, waiting for the peer's response headers, which mean "accepted")
//        -> connected (frames flow) -> on any end of the call: backoff (timer) -> connecting again,
//           or idle when nothing is queued by then. closed is final.
// Invariants:
//   - at most one call per peer at a time, and at most one frame written and not yet completed on it:
//     the next frame is built only when gRPC has taken the previous one, so everything queued
//     meanwhile goes into that next frame (batching), and a peer that stops reading stops the
//     draining while the queue's bounds take over (backpressure);
//   - frames go out in queue order on one call, so a peer receives each stream's messages in order;
//   - every message handed to enqueue() ends up counted exactly once: sent (gRPC completed the write
//     of its frame), dropped (with a cause), still queued, or in the one frame in flight. A frame in
//     flight when its call fails is counted as dropped ('stream-failed'), though the peer may have
//     received it: Raft tolerates both loss and duplication.
//   - the backoff grows on every failed attempt and resets only once a peer accepts a stream.

import * as grpc from '@grpc/grpc-js';
import type { Message, NodeId } from '../../core/raft/index.ts';
import { Backoff } from './backoff.ts';
import { channelOptions, FRAME_HEADER_MAX_BYTES, type ResolvedOptions } from './options.ts';
import { OutboundQueue, type QueuedMessage } from './outbound-queue.ts';
import { encodeFrame, encodeMessage } from './raft-codec.ts';
import { raftServiceDefinition, RAFT_STREAM_PATH, streamMetadata } from './raft-service.ts';
import { WireEncodeError } from './wire.ts';

export type PeerState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

/** Why a message queued for a peer was not sent. */
export type DropCause = 'overflow' | 'oversize' | 'unencodable' | 'stream-failed' | 'closed';

export interface PeerStats {
  readonly address: string;
  readonly state: PeerState;
  /** Messages handed to send() for this peer. enqueued = sent + dropped + queued + inFlight. */
  readonly enqueuedMessages: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly inFlightMessages: number;
  readonly sentMessages: number;
  /** Frame bytes (headers included) whose write gRPC completed. */
  readonly sentBytes: number;
  readonly sentFrames: number;
  readonly droppedMessages: number;
  readonly droppedBytes: number;
  readonly drops: Readonly<Record<DropCause, number>>;
  /** Streams the peer accepted. */
  readonly connects: number;
  /** Stream attempts after the first one. */
  readonly reconnects: number;
  /** Streams the peer refused with FAILED_PRECONDITION (wrong cluster, wrong node, wire version). */
  readonly refusals: number;
  /** The last reason a stream ended or failed, null while none did. */
  readonly lastError: string | null;
}

const requestSerialize = raftServiceDefinition.Stream.requestSerialize;
const responseDeserialize = raftServiceDefinition.Stream.responseDeserialize;

export class PeerLink {
  private state: PeerState = 'idle';
  private client: grpc.Client | null = null;
  private call: grpc.ClientWritableStream<Buffer> | null = null;
  private inFlight: QueuedMessage[] | null = null;
  /** The backoff timer (state backoff) or the accept timeout (state connecting). */
  private timer: NodeJS.Timeout | null = null;
  private timedOut = false;
  private flushScheduled = false;
  private failing = false;
  private onClosed: (() => void) | null = null;
  private readonly queue: OutboundQueue;
  private readonly backoff: Backoff;
  private readonly drops: Record<DropCause, number> = { overflow: 0, oversize: 0, unencodable: 0, 'stream-failed': 0, closed: 0 };
  private enqueued = 0;
  private droppedBytes = 0;
  private sentMessages = 0;
  private sentBytes = 0;
  private sentFrames = 0;
  private attempts = 0;
  private connects = 0;
  private refusals = 0;
  private lastError: string | null = null;

  constructor(
    readonly peer: NodeId,
    private address: string,
    private readonly options: ResolvedOptions,
  ) {
    this.queue = new OutboundQueue(options.maxQueueMessages, options.maxQueueBytes);
    this.backoff = new Backoff(options.backoffMinMs, options.backoffMaxMs, options.random);
  }

  /** Queues a message for the peer; never throws, never blocks. */
  enqueue(message: Message): void {
    if (this.state === 'closed') return;
    this.enqueued++;
    let bytes: Buffer;
    try {
      bytes = encodeMessage(message);
    } catch (error) {
      if (!(error instanceof WireEncodeError)) throw error;
      this.drop('unencodable', 1, 0);
      this.options.logger.error({ peer: this.peer, type: message.type, error: error.message }, 'raft message cannot be encoded; dropped');
      return;
    }
    if (bytes.length > this.options.maxFrameBytes - FRAME_HEADER_MAX_BYTES) {
      this.drop('oversize', 1, bytes.length);
      this.options.logger.warn({ peer: this.peer, type: message.type, bytes: bytes.length, maxFrameBytes: this.options.maxFrameBytes }, 'raft message larger than a frame; dropped');
      return;
    }
    for (const dropped of this.queue.push({ bytes, snapshot: message.type === 'snap' })) this.drop(dropped.reason, 1, dropped.item.bytes.length);
    if (this.state === 'idle') this.open();
    else this.scheduleFlush();
  }

  /** Points the link at a new address (a membership change); the current stream is abandoned. */
  setAddress(address: string): void {
    if (address === this.address || this.state === 'closed') return;
    this.address = address;
    this.abandonCall();
    this.client?.close();
    this.client = null;
    this.backoff.reset();
    this.state = 'idle';
    if (this.queue.count > 0) this.open();
  }

  /** Ends the stream (cleanly when the peer answers within timeoutMs) and releases the channel. */
  async close(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    const held = this.queue.clear();
    this.drop('closed', held.length, held.reduce((sum, item) => sum + item.bytes.length, 0));
    const call = this.call;
    if (call !== null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          call.cancel();
          resolve();
        }, timeoutMs);
        this.onClosed = () => {
          clearTimeout(timer);
          resolve();
        };
        call.end();
      });
    }
    this.onClosed = null;
    this.abandonCall();
    this.client?.close();
    this.client = null;
  }

  stats(): PeerStats {
    const dropped = Object.values(this.drops).reduce((sum, n) => sum + n, 0);
    return {
      address: this.address,
      state: this.state,
      enqueuedMessages: this.enqueued,
      queuedMessages: this.queue.count,
      queuedBytes: this.queue.bytes,
      inFlightMessages: this.inFlight?.length ?? 0,
      sentMessages: this.sentMessages,
      sentBytes: this.sentBytes,
      sentFrames: this.sentFrames,
      droppedMessages: dropped,
      droppedBytes: this.droppedBytes,
      drops: { ...this.drops },
      connects: this.connects,
      reconnects: Math.max(0, this.attempts - 1),
      refusals: this.refusals,
      lastError: this.lastError,
    };
  }

  private drop(cause: DropCause, messages: number, bytes: number): void {
    this.drops[cause] += messages;
    this.droppedBytes += bytes;
  }

  private open(): void {
    this.client ??= new grpc.Client(this.address, this.options.channelCredentials, channelOptions(this.options));
    this.attempts++;
    this.state = 'connecting';
    this.timedOut = false;
    const metadata = streamMetadata({ clusterId: this.options.clusterId, from: this.options.id, to: this.peer });
    const call: grpc.ClientWritableStream<Buffer> = this.client.makeClientStreamRequest(RAFT_STREAM_PATH, requestSerialize, responseDeserialize, metadata, {}, (error) =>
      this.onCallEnd(call, error),
    );
    this.call = call;
    // Failures arrive through the callback; a listener keeps a stray stream 'error' from crashing.
    call.on('error', () => {});
    call.on('metadata', () => this.onAccepted(call));
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.call !== call || this.state !== 'connecting') return;
      this.timedOut = true;
      call.cancel();
    }, this.options.connectTimeoutMs);
  }

  private onAccepted(call: grpc.ClientWritableStream<Buffer>): void {
    if (this.call !== call || this.state !== 'connecting') return;
    this.clearTimer();
    this.state = 'connected';
    this.connects++;
    this.backoff.reset();
    if (this.failing) this.options.logger.info({ peer: this.peer, address: this.address, attempts: this.attempts }, 'raft stream to peer re-established');
    this.failing = false;
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'connected') return;
    this.flushScheduled = true;
    // A microtask lets every send() of the current turn (a whole Ready) join the same frame.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const call = this.call;
    if (this.state !== 'connected' || call === null || this.inFlight !== null || this.queue.count === 0) return;
    const items = this.queue.take(this.options.maxFrameBytes - FRAME_HEADER_MAX_BYTES);
    const frame = encodeFrame(items.map((item) => item.bytes));
    this.inFlight = items;
    call.write(frame, () => {
      if (this.call !== call || this.inFlight !== items) return;
      this.inFlight = null;
      this.sentMessages += items.length;
      this.sentBytes += frame.length;
      this.sentFrames++;
      this.flush();
    });
  }

  private onCallEnd(call: grpc.ClientWritableStream<Buffer>, error: grpc.ServiceError | null): void {
    if (this.call !== call) return;
    this.call = null;
    this.clearTimer();
    this.loseInFlight();
    if (this.state === 'closed') {
      this.onClosed?.();
      return;
    }
    this.recordFailure(error);
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state !== 'backoff') return;
      if (this.queue.count > 0) this.open();
      else this.state = 'idle';
    }, this.backoff.nextDelayMs());
  }

  private recordFailure(error: grpc.ServiceError | null): void {
    const code = error?.code ?? grpc.status.OK;
    const details = this.timedOut ? `not accepted within ${this.options.connectTimeoutMs} ms` : (error?.details ?? 'the peer ended the stream');
    const reason = `${grpc.status[code] ?? code}: ${details}`;
    const fields = { peer: this.peer, address: this.address, reason, attempts: this.attempts };
    if (code === grpc.status.FAILED_PRECONDITION) {
      this.refusals++;
      // A misconfiguration: worth an error each time it changes, not on every retry.
      if (reason !== this.lastError) this.options.logger.error(fields, 'peer refused the raft stream');
    } else if (!this.failing) {
      this.options.logger.warn(fields, 'raft stream to peer failed; reconnecting with backoff');
    }
    this.failing = true;
    this.lastError = reason;
  }

  private loseInFlight(): void {
    if (this.inFlight === null) return;
    this.drop('stream-failed', this.inFlight.length, this.inFlight.reduce((sum, item) => sum + item.bytes.length, 0));
    this.inFlight = null;
  }

  private abandonCall(): void {
    const call = this.call;
    this.call = null;
    this.clearTimer();
    this.loseInFlight();
    call?.cancel();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
