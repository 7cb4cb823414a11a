// The Calls stream of the client API: any unary method of the API, carried as messages of one
// long-lived bidirectional stream instead of a gRPC call each. A client keeps one such stream per
// manager and sends every call over it; the server answers each call as its unary method would, in
// whatever order they finish. It exists for cost: in grpc-js a unary call costs its server about
// 40 µs and its client about 90 µs of CPU on the machines we measured, a message on an open stream
// 5 and 6 µs, and a manager's CPU is what bounds its write throughput.
//
// Frames (one gRPC message each, big-endian integers):
//   call     u32 id · u32 timeout in ms · u8 method length · method (ASCII) · the request's JSON
//   answer   u32 id · u8 status code · OK: the answer's JSON; otherwise the status as JSON,
//            {"details": "...", "metadata": {"warren-served-by": "m1", ...}} (api-service.ts)
// Ids are the client's own, unique among its calls in flight on the stream. The semantics are the
// unary method's, including what a failure says of a write's outcome; a call the stream loses
// (the stream fails, or the call's timeout passes with no answer) is a failure of the transport,
// with no warren-served-by, exactly as a unary call lost with its connection.
// The server bounds the calls in flight on one stream and answers any beyond the bound
// RESOURCE_EXHAUSTED; when it shuts down it refuses new calls (UNAVAILABLE, not applied), answers
// those in flight, then ends the stream. The stream's own metadata applies to all its calls (a
// manager relaying calls to the leader marks its stream warren-forwarded-by).
// A sender (CallSender) sends a request too large to share a stream as a unary call of its own,
// since a message beyond the server's size bound fails the whole stream and with it the other calls
// in flight there; so is every call to a manager that does not know the Calls method (an older
// version), which refuses the stream before reading any call.

import * as grpc from '@grpc/grpc-js';
import { callUnary } from './api-channel.ts';
import { CALLS_METHOD, methodPath } from './api-service.ts';
import type { UnaryMethod } from './api-types.ts';

/** What a call came to: the answer's bytes, or a status (a Warren server's, or the transport's, without warren-served-by). */
export type CallResult = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly status: Partial<grpc.StatusObject> };

export interface CallFrame {
  readonly id: number;
  readonly method: string;
  readonly timeoutMs: number;
  readonly body: Buffer;
}

const maxId = 0xffff_ffff;

export function encodeCallFrame(frame: CallFrame): Buffer {
  const methodLength = Buffer.byteLength(frame.method, 'latin1');
  const bytes = Buffer.allocUnsafe(9 + methodLength + frame.body.length);
  bytes.writeUInt32BE(frame.id, 0);
  bytes.writeUInt32BE(Math.min(maxId, Math.max(0, Math.ceil(frame.timeoutMs))), 4);
  bytes.writeUInt8(methodLength, 8);
  bytes.write(frame.method, 9, 'latin1');
  frame.body.copy(bytes, 9 + methodLength);
  return bytes;
}

/** The call a frame carries, or why it is not one. */
export function decodeCallFrame(bytes: Buffer): CallFrame | string {
  if (bytes.length < 9) return `a call frame has at least 9 bytes (id, timeout, method length), got ${bytes.length}`;
  const methodLength = bytes.readUInt8(8);
  if (bytes.length < 9 + methodLength) return `a call frame's method is ${methodLength} bytes long but the frame has only ${bytes.length - 9} after its header`;
  return {
    id: bytes.readUInt32BE(0),
    timeoutMs: bytes.readUInt32BE(4),
    method: bytes.toString('latin1', 9, 9 + methodLength),
    body: bytes.subarray(9 + methodLength),
  };
}

export function encodeAnswerFrame(id: number, result: CallResult): Buffer {
  const payload = result.ok ? result.body : Buffer.from(JSON.stringify({ details: result.status.details ?? '', metadata: metadataRecord(result.status.metadata) }), 'utf8');
  const bytes = Buffer.allocUnsafe(5 + payload.length);
  bytes.writeUInt32BE(id, 0);
  bytes.writeUInt8(result.ok ? grpc.status.OK : (result.status.code ?? grpc.status.UNKNOWN), 4);
  payload.copy(bytes, 5);
  return bytes;
}

/** The id and result an answer frame carries, or null when it is not one. */
export function decodeAnswerFrame(bytes: Buffer): { readonly id: number; readonly result: CallResult } | null {
  if (bytes.length < 5) return null;
  const id = bytes.readUInt32BE(0);
  const code = bytes.readUInt8(4) as grpc.status;
  const payload = bytes.subarray(5);
  if (code === grpc.status.OK) return { id, result: { ok: true, body: payload } };
  try {
    const status = JSON.parse(payload.toString('utf8')) as { details?: unknown; metadata?: unknown };
    const metadata = new grpc.Metadata();
    if (typeof status.metadata === 'object' && status.metadata !== null) {
      for (const [key, value] of Object.entries(status.metadata)) if (typeof value === 'string') metadata.set(key, value);
    }
    return { id, result: { ok: false, status: { code, details: typeof status.details === 'string' ? status.details : '', metadata } } };
  } catch {
    return null;
  }
}

function metadataRecord(metadata: grpc.Metadata | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata?.getMap() ?? {})) if (typeof value === 'string') record[key] = value;
  return record;
}

const identity = (bytes: Buffer): Buffer => bytes;

interface Pending {
  readonly resolve: (result: CallResult) => void;
  readonly deadline: number;
  readonly timeoutMs: number;
}

/** How often a stream looks for calls past their timeout while any is in flight. */
const sweepEveryMs = 100;

/** The client's end of one Calls stream to one manager. */
export class CallStream {
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  /** In flight, oldest first (every call of a client has the same timeout, so also by deadline). */
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: string | null = null;
  private answered = false;
  /**
   * The manager does not know the Calls method (a version before it): it refused the stream before
   * reading any call, so none was applied, and calls to it go as unary calls instead.
   */
  unsupported = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly client: grpc.Client,
    metadata: grpc.Metadata,
  ) {
    this.call = client.makeBidiStreamRequest(methodPath(CALLS_METHOD), identity, identity, metadata, {});
    this.call.on('data', (bytes: Buffer) => this.answer(bytes));
    this.call.on('error', (error: grpc.ServiceError) => {
      this.unsupported = error.code === grpc.status.UNIMPLEMENTED && !this.answered;
      this.fail(`the call stream failed: ${grpc.status[error.code] ?? error.code}: ${error.details}`, error.code);
    });
    this.call.on('end', () => this.fail('the manager ended the call stream', grpc.status.UNAVAILABLE));
  }

  /** Whether calls may still be sent on it. */
  get usable(): boolean {
    return this.broken === null;
  }

  send(method: UnaryMethod, body: Buffer, timeoutMs: number): Promise<CallResult> {
    if (this.broken !== null) return Promise.resolve(lost(grpc.status.UNAVAILABLE, this.broken));
    const id = this.nextId;
    this.nextId = this.nextId >= maxId ? 1 : this.nextId + 1;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, deadline: Date.now() + timeoutMs, timeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), sweepEveryMs).unref();
      this.call.write(encodeCallFrame({ id, method, timeoutMs, body }));
    });
  }

  /** Ends the stream; calls in flight fail as lost. */
  close(): void {
    this.fail('the client closed the call stream', grpc.status.CANCELLED);
    this.call.cancel();
  }

  private answer(bytes: Buffer): void {
    const answer = decodeAnswerFrame(bytes);
    if (answer === null) return this.fail(`the manager sent a malformed answer frame (${bytes.length} bytes)`, grpc.status.INTERNAL);
    this.answered = true;
    const pending = this.pending.get(answer.id);
    if (pending === undefined) return; // its timeout passed: already failed
    this.pending.delete(answer.id);
    this.idle();
    pending.resolve(answer.result);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) break;
      this.pending.delete(id);
      pending.resolve(lost(grpc.status.DEADLINE_EXCEEDED, `no answer within ${pending.timeoutMs} ms`));
    }
    this.idle();
  }

  private idle(): void {
    if (this.pending.size > 0 || this.sweeper === null) return;
    clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private fail(why: string, code: grpc.status): void {
    this.broken ??= why;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.idle();
    for (const call of pending) call.resolve(lost(code, why));
  }
}

/** Requests larger than this go as unary calls (a manager takes requests of up to 2 MiB by default). */
export const maxStreamedRequestBytes = 256 * 1024;

/** Calls to managers: over one Calls stream per manager, or as unary calls where a stream will not do. */
export class CallSender {
  private readonly streams = new Map<string, CallStream>();
  /** Managers that do not serve the Calls stream. */
  private readonly unaryOnly = new Set<string>();

  /** `metadata`: of every stream and unary call (a copy is made for each). */
  constructor(private readonly metadata: grpc.Metadata = new grpc.Metadata()) {}

  /** One call to the manager at `address`, whose channel `client` is connected; never rejects. */
  async send(address: string, client: grpc.Client, method: UnaryMethod, body: Buffer, timeoutMs: number): Promise<CallResult> {
    if (body.length <= maxStreamedRequestBytes && !this.unaryOnly.has(address)) {
      const stream = this.stream(address, client);
      const result = await stream.send(method, body, timeoutMs);
      if (!stream.unsupported) return result;
      this.unaryOnly.add(address);
    }
    const result = await callUnary(client, method, body, this.metadata.clone(), Date.now() + timeoutMs);
    return result.ok ? result : { ok: false, status: result.error };
  }

  close(): void {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }

  /** The usable Calls stream on `client`, opened when there is none. */
  private stream(address: string, client: grpc.Client): CallStream {
    const existing = this.streams.get(address);
    if (existing !== undefined && existing.usable && existing.client === client) return existing;
    existing?.close();
    const stream = new CallStream(client, this.metadata.clone());
    this.streams.set(address, stream);
    return stream;
  }
}

/** A call lost by the transport: no warren-served-by, so its outcome is not known. */
function lost(code: grpc.status, details: string): CallResult {
  return { ok: false, status: { code, details, metadata: new grpc.Metadata() } };
}

/** What the server's end of a Calls stream needs of the API server. */
export interface CallsHost {
  readonly self: string;
  readonly maxCallsInFlight: number;
  isMethod(method: string): method is UnaryMethod;
  /** Serves one call as its unary method would. */
  serve(method: UnaryMethod, request: Buffer, deadlineMs: number): Promise<CallResult>;
  /** The status of a call refused by the stream itself. */
  refusal(code: grpc.status, message: string, outcome?: 'not-applied'): Partial<grpc.StatusObject>;
}

/** The server's end of one Calls stream. */
export class ServedCallStream {
  private inFlight = 0;
  private closing = false;
  private clientDone = false;
  private ended = false;

  constructor(
    private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    private readonly host: CallsHost,
    private readonly onEnd: () => void,
  ) {
    call.on('data', (bytes: Buffer) => this.receive(bytes));
    call.on('end', () => {
      this.clientDone = true;
      this.endIfDone();
    });
    call.on('cancelled', () => this.finish());
    call.on('error', () => this.finish());
  }

  /** Refuses new calls, answers those in flight, then ends the stream. */
  close(): void {
    this.closing = true;
    this.endIfDone();
  }

  private receive(bytes: Buffer): void {
    if (this.ended) return;
    const frame = decodeCallFrame(bytes);
    if (typeof frame === 'string') {
      this.finish();
      this.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `manager ${this.host.self}: ${frame}; the Calls stream is closed` });
      return;
    }
    const host = this.host;
    if (!host.isMethod(frame.method)) return this.reply(frame.id, host.refusal(grpc.status.UNIMPLEMENTED, `the client API has no method ${JSON.stringify(frame.method)}`));
    if (this.closing) return this.reply(frame.id, host.refusal(grpc.status.UNAVAILABLE, `manager ${host.self} is shutting down; send ${frame.method} to another manager`, 'not-applied'));
    if (this.inFlight >= host.maxCallsInFlight) {
      const message = `manager ${host.self} already serves ${this.inFlight} calls on this stream (the bound); wait for answers before sending more`;
      return this.reply(frame.id, host.refusal(grpc.status.RESOURCE_EXHAUSTED, message));
    }
    this.inFlight++;
    void host.serve(frame.method, frame.body, Date.now() + frame.timeoutMs).then((result) => {
      this.inFlight--;
      this.send(frame.id, result);
      this.endIfDone();
    });
  }

  private reply(id: number, status: Partial<grpc.StatusObject>): void {
    this.send(id, { ok: false, status });
  }

  private send(id: number, result: CallResult): void {
    if (!this.ended) this.call.write(encodeAnswerFrame(id, result));
  }

  private endIfDone(): void {
    if (this.ended || this.inFlight > 0 || !(this.closing || this.clientDone)) return;
    this.finish();
    this.call.end();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
  }
}
