// Where the daemon's log lines go: a file descriptor written in batches, once per turn of the event
// loop, with synchronous writes. Why not pino's own asynchronous destination (sonic-boom with sync
// off)? Its flushSync() cannot wait for the write already in flight, so lines written just before
// exit can land out of order or not at all (seen in about 2% of rounds of 50 lines then flushSync).
// Here no write is ever in flight between turns: a batch is written with writeSync when it is
// taken, so flushSync() writes out exactly what is buffered, in order.
// Invariants: lines reach the descriptor in the order logged, each whole; the buffer is bounded
// (maxBufferedBytes), lines beyond it are dropped and counted rather than growing memory without
// end; a descriptor that would block (a full, non-blocking pipe) is retried later, never spun on,
// except by flushSync, which waits at most maxFlushWaitMs; a descriptor that fails otherwise (EPIPE:
// the reader went away) stops the writing for good and every later line is counted as dropped.

import { writeSync as fsWriteSync } from 'node:fs';

export interface LogDestinationOptions {
  /** Bound on bytes waiting to be written. Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Retry delay after the descriptor would block. Default 10 ms. */
  readonly retryDelayMs?: number;
  /** Bound on how long flushSync waits for a descriptor that would block. Default 1000 ms. */
  readonly maxFlushWaitMs?: number;
  /** Injected by tests to make the descriptor block, write short or fail. */
  readonly writeSync?: (fd: number, buffer: Uint8Array) => number;
}

export class BatchedLogDestination {
  private chunks: string[] = [];
  /** The part of a taken batch not yet written (after a short write or a write that would block). */
  private pending: Buffer | null = null;
  private bufferedBytes = 0;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failure: string | null = null;
  private droppedLines = 0;
  private readonly maxBufferedBytes: number;
  private readonly retryDelayMs: number;
  private readonly maxFlushWaitMs: number;
  private readonly writeSync: (fd: number, buffer: Uint8Array) => number;

  constructor(private readonly fd: number, options: LogDestinationOptions = {}) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.retryDelayMs = options.retryDelayMs ?? 10;
    this.maxFlushWaitMs = options.maxFlushWaitMs ?? 1000;
    this.writeSync = options.writeSync ?? fsWriteSync;
  }

  /** Lines dropped because the buffer was full or the descriptor failed. */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Why writing stopped for good, or null. */
  get failed(): string | null {
    return this.failure;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.failure !== null || this.bufferedBytes + bytes > this.maxBufferedBytes) {
      this.droppedLines++;
      return;
    }
    this.chunks.push(line);
    this.bufferedBytes += bytes;
    if (this.scheduled || this.retryTimer !== null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  /** Stops writing: later lines are dropped and counted (the descriptor is about to be closed). */
  end(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failure ??= 'ended';
    this.droppedLines += this.chunks.length + (this.pending === null ? 0 : countLines(this.pending));
    this.chunks = [];
    this.pending = null;
    this.bufferedBytes = 0;
  }

  /** Writes out everything buffered before returning (waiting at most maxFlushWaitMs on a blocked descriptor). */
  flushSync(): void {
    const deadline = performance.now() + this.maxFlushWaitMs;
    while (this.drain() === 'blocked' && performance.now() < deadline) sleepSync(Math.min(5, this.retryDelayMs));
  }

  private drain(): 'done' | 'blocked' {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.chunks.length > 0) {
      const batch = Buffer.from(this.chunks.join(''));
      this.chunks = [];
      this.pending = this.pending === null ? batch : Buffer.concat([this.pending, batch]);
    }
    while (this.pending !== null && this.pending.length > 0) {
      try {
        const written = this.writeSync(this.fd, this.pending);
        this.pending = this.pending.subarray(written);
        this.bufferedBytes -= written;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EBUSY') {
          this.retryTimer = setTimeout(() => this.drain(), this.retryDelayMs);
          this.retryTimer.unref();
          return 'blocked';
        }
        this.failure = error instanceof Error ? error.message : String(error);
        this.droppedLines += countLines(this.pending);
        this.pending = null;
        this.bufferedBytes = 0;
        return 'done';
      }
    }
    this.pending = null;
    return 'done';
  }
}

function countLines(buffer: Buffer): number {
  let lines = 0;
  for (let at = buffer.indexOf(10); at !== -1; at = buffer.indexOf(10, at + 1)) lines++;
  return lines;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}
