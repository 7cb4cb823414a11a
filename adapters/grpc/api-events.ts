// The Events stream: every command applied to this manager's store that changed it, as
// {index, type, ids, atUs}, from the moment of subscription on, in index order, without gaps.
// Each subscriber has a bounded buffer: the events handed to its gRPC stream that have not yet left
// for the connection, which HTTP/2 flow control holds back while the client does not read. When
// the buffer is full and one more event comes (the client reads slower than the cluster changes),
// the subscriber is cut off with RESOURCE_EXHAUSTED, after the events already buffered, and the
// message names the last of them: one slow reader never holds memory without limit, and a stream
// never silently skips events. Every manager applies every command, so any manager serves it.

import * as grpc from '@grpc/grpc-js';
import { assertNever } from '../../core/assert.ts';
import type { ApplyResult, StateCommand, StateCommandType } from '../../core/state/index.ts';
import { toStatus } from './api-errors.ts';
import { encodeJson } from './api-service.ts';
import type { ApiEvent } from './api-types.ts';

/** One command applied to the store, as the manager reports it to subscribers. */
export interface AppliedCommand {
  readonly index: number;
  readonly command: StateCommand;
  readonly result: ApplyResult;
}

/** The ids a command names, in the command's order. */
export function commandIds(command: StateCommand): readonly string[] {
  switch (command.type) {
    case 'node-register':
    case 'node-update':
    case 'node-heartbeat':
    case 'node-set-status':
    case 'node-remove':
    case 'service-create':
    case 'service-update':
    case 'service-rollback':
    case 'service-set-update-status':
    case 'service-remove':
    case 'secret-create':
    case 'secret-remove':
    case 'volume-create':
    case 'volume-set-node':
    case 'volume-remove':
    case 'ingress-create':
    case 'ingress-update':
    case 'ingress-remove':
    case 'certificate-create':
    case 'certificate-update':
    case 'certificate-remove':
      return [command.id];
    case 'task-create':
      return command.tasks.map((t) => t.id);
    case 'task-assign':
      return command.assignments.map((a) => a.taskId);
    case 'task-set-pending-reason':
      return command.reasons.map((r) => r.taskId);
    case 'task-set-desired':
      return command.changes.map((c) => c.taskId);
    case 'task-report':
      return [command.taskId];
    case 'task-remove':
      return command.taskIds;
    default:
      return assertNever(command, 'command');
  }
}

export function toApiEvent(applied: AppliedCommand, maxIds: number): ApiEvent {
  const ids = commandIds(applied.command);
  return {
    index: applied.index,
    type: applied.command.type,
    ids: ids.length > maxIds ? ids.slice(0, maxIds) : ids,
    idsOmitted: Math.max(0, ids.length - maxIds),
    atUs: applied.command.atUs,
  };
}

export interface SubscriberLimits {
  /** Events waiting to leave for the connection; one more cuts the subscriber off. Above the largest burst of changes a reader should ride out. */
  readonly maxBufferedEvents: number;
  /** Ids listed per event. */
  readonly maxEventIds: number;
}

/** One Events call. Call push() for every applied command; it ends the call itself when cut off. */
export class EventSubscriber {
  /** Events handed to the stream that it has not yet passed on to the connection. */
  private unsent = 0;
  private ended = false;
  /** The index of the last event handed to the stream (0 before any): the client gets every event up to it. */
  private lastWrittenIndex = 0;

  constructor(
    private readonly call: grpc.ServerWritableStream<Buffer, Buffer>,
    private readonly servedBy: string,
    private readonly types: ReadonlySet<StateCommandType> | null,
    private readonly limits: SubscriberLimits,
    /** Called once when the subscriber ends, whatever the cause. */
    private readonly onEnd: (cause: 'cut-off' | 'cancelled' | 'closed') => void,
  ) {
    call.on('cancelled', () => this.end('cancelled'));
    call.on('close', () => this.end('cancelled'));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(applied: AppliedCommand): void {
    if (this.ended || !applied.result.ok || !applied.result.changed) return;
    if (this.types !== null && !this.types.has(applied.command.type)) return;
    if (this.unsent >= this.limits.maxBufferedEvents) {
      this.cutOff();
      return;
    }
    const event = toApiEvent(applied, this.limits.maxEventIds);
    this.unsent++;
    this.lastWrittenIndex = event.index;
    // The callback comes once the event has left for the connection, which HTTP/2 flow control
    // holds back while the client does not read.
    this.call.write(encodeJson(event), () => this.unsent--);
  }

  /** Ends the stream with `status` (server shutdown). */
  close(code: grpc.status, message: string): void {
    if (this.ended) return;
    this.end('closed');
    this.call.emit('error', toStatus({ code, message }, this.servedBy));
  }

  private cutOff(): void {
    const waiting = this.unsent;
    this.end('cut-off');
    const message =
      `event subscriber too slow: ${waiting} events were waiting to be sent, the bound (maxBufferedEvents); ` +
      `the stream was cut off after the event of index ${this.lastWrittenIndex}, and later events were not sent; ` +
      'subscribe again and re-read the objects you follow';
    this.call.emit('error', toStatus({ code: grpc.status.RESOURCE_EXHAUSTED, message }, this.servedBy));
  }

  private end(cause: 'cut-off' | 'cancelled' | 'closed'): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(cause);
  }
}
