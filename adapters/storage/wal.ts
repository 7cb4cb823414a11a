// The durable storage of one Raft node: a segmented write-ahead log with group commit, snapshot files,
// compaction and a disk-full mode. One writer loop owns the files: appends queue up while a batch is
// being written and fsynced, and the next batch takes everything queued (bounded by maxBatchBytes),
// written with one write call and made durable with one fdatasync (segment.ts). A promise resolves
// only after the fsync of the batch holding its records completed, so a resolved append survives any
// crash. Snapshot files are snapshot-files.ts; reading a directory back is recovery.ts.
// Invariants:
//   - batch N+1 is written only after batch N's fsync completed (recovery's torn-tail rule needs it);
//   - a segment holds whole batches; a new one is created (temp, fsync, rename, dir fsync) before the
//     batch that would overflow the current one, whose data was synced by then;
//   - an installed snapshot's file is durable before the WAL record that installs it is written;
//   - a failed write or fsync acknowledges nothing, rejects everything queued (the log must not get
//     holes), and cuts the file back to the last synced offset before anything else is written;
//   - after an fsync error other than ENOSPC the storage writes nothing more (state 'failed'): the
//     kernel may have dropped the dirty pages and marked them clean, so only a reopen (reading back
//     what is really on disk, cutting any unsynced tail) is trustworthy. The daemon should stop the
//     node and restart it.
//   - disk full: appends reject with code 'disk-full', the node stays readable, and a probe that
//     writes and fsyncs a scratch file decides when writing resumes.

import { join } from 'node:path';
import type { ConfState, HardState, Snapshot } from '../../core/raft/index.ts';
import { encodeReady } from './codec.ts';
import { isDiskFull, StorageError, writeFailure } from './errors.ts';
import { probeFreeSpace } from './files.ts';
import { MetricsRecorder, type StorageMetrics } from './metrics.ts';
import { resolveStorageOptions, type StorageOptions } from './options.ts';
import { recover, type Recovered } from './recovery.ts';
import { createSegment, SegmentLog, type ActiveSegment } from './segment.ts';
import { SnapshotFiles } from './snapshot-files.ts';
import { TermRuns } from './term-runs.ts';
import { encodeUpdate, type EncodedUpdate, type LogPosition, type Update } from './update.ts';

export type StorageState = 'ok' | 'disk-full' | 'failed' | 'closed';

export interface StorageStatus {
  readonly state: StorageState;
  /** Why the state is not ok (the error that caused it), else null. */
  readonly reason: string | null;
  readonly segmentCount: number;
  readonly activeSegment: string;
  readonly activeSegmentBytes: number;
  readonly snapshotIndex: number;
  /** The last index that is durable. */
  readonly lastIndex: number;
  readonly queuedAppends: number;
  /** Non-fatal problems (a cleanup that failed), newest last, at most 16. */
  readonly warnings: readonly string[];
}

interface AppendJob {
  readonly kind: 'append';
  readonly encoded: EncodedUpdate;
  readonly hardState: HardState | null;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface SnapshotJob {
  readonly kind: 'snapshot';
  readonly snapshot: Snapshot;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type Job = AppendJob | SnapshotJob;

const MAX_WARNINGS = 16;

/** Opens (creating if needed) the data directory and recovers what it holds. */
export async function openStorage(dir: string, options: Partial<StorageOptions> = {}): Promise<{ storage: WalStorage; recovered: Recovered }> {
  const resolved = resolveStorageOptions(options);
  const { recovered, layout } = await recover(resolved.fileSystem, dir);
  const lastEntry = recovered.entries[recovered.entries.length - 1];
  const snapshotIndex = recovered.snapshot ? recovered.snapshot.meta.index : 0;
  const position = { lastIndex: lastEntry ? lastEntry.index : snapshotIndex, snapshotIndex };
  const fs = resolved.fileSystem;
  const last = layout.segments[layout.segments.length - 1];
  let active: ActiveSegment;
  if (last) {
    active = { info: last, handle: await fs.openForWrite(join(dir, last.name)), endBytes: layout.activeEndBytes, allocatedBytes: layout.activeAllocatedBytes, headerBytes: layout.activeHeaderBytes };
  } else {
    active = await createSegment(fs, dir, 1, recovered.hardState);
    layout.segments.push(active.info);
  }
  const terms = new TermRuns();
  terms.reset(snapshotIndex, recovered.snapshot ? recovered.snapshot.meta.term : 0);
  terms.append(recovered.entries);
  const snapshots = new SnapshotFiles(fs, dir, layout.snapshotNames);
  const storage = new WalStorage(dir, resolved, position, recovered.hardState, snapshots, terms, (recorder, warn) => new SegmentLog(fs, dir, resolved.segmentSizeBytes, resolved.preallocateBytes, resolved.nowMs, recorder, warn, layout.segments, active));
  if (layout.snapshotMarkNeeded && recovered.snapshot) await storage.markRecoveredSnapshot(recovered.snapshot, recovered.hardState);
  return { storage, recovered };
}

export class WalStorage {
  private state: StorageState = 'ok';
  private reason: string | null = null;
  private readonly queue: Job[] = [];
  private queuedBytes = 0;
  private loop: Promise<void> = Promise.resolve();
  private running = false;
  private closing = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing: Promise<StorageState> | null = null;
  private readonly warnings: string[] = [];
  private readonly recorder = new MetricsRecorder();
  /** The log once everything queued is written (appends are validated against it). */
  private queued: LogPosition;
  private readonly log: SegmentLog;

  constructor(
    private readonly dir: string,
    private readonly options: StorageOptions,
    private durable: LogPosition,
    private hardStateDurable: HardState,
    private readonly snapshots: SnapshotFiles,
    /** Terms of the durable log, to check local snapshots against. */
    private readonly terms: TermRuns,
    makeLog: (recorder: MetricsRecorder, warn: (message: string) => void) => SegmentLog,
  ) {
    this.queued = durable;
    this.log = makeLog(this.recorder, (message) => this.warn(message));
  }

  /**
   * At open, when the newest snapshot is not where the WAL leads (its file became durable, the WAL
   * record installing it did not): records it, so that appends continue from it.
   */
  async markRecoveredSnapshot(snapshot: Snapshot, hardState: HardState): Promise<void> {
    const mark = { index: snapshot.meta.index, term: snapshot.meta.term };
    await this.log.write([encodeReady(mark, [], hardState)], hardState);
    this.log.active.info.coverageIndex = Math.max(this.log.active.info.coverageIndex, mark.index);
  }

  /** Persists what a Ready asks; resolves once it is durable (group-committed with its neighbours). */
  append(update: Update): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    let encoded: EncodedUpdate;
    try {
      encoded = encodeUpdate(update, this.queued, this.options.maxRecordBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.queuedBytes + encoded.framedBytes > this.options.maxQueuedBytes && this.queue.length > 0) {
      return Promise.reject(new StorageError('overloaded', `${this.queuedBytes} bytes already wait for the disk (limit ${this.options.maxQueuedBytes})`));
    }
    this.queued = encoded.after;
    return this.enqueue((resolve, reject) => ({ kind: 'append', encoded, hardState: update.hardState, resolve, reject }), encoded.framedBytes);
  }

  /**
   * Saves a snapshot the local state machine took of durable entries (index <= the durable last
   * index, term = that entry's term) and removes the segments it makes unnecessary. Resolves once
   * the snapshot file is durable.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    const { index, term } = snapshot.meta;
    if (index <= this.queued.snapshotIndex || index > this.durable.lastIndex) {
      return Promise.reject(new StorageError('invalid', `snapshot at ${index} must be newer than ${this.queued.snapshotIndex} and at most the durable last index ${this.durable.lastIndex}`));
    }
    const logTerm = this.terms.termAt(index);
    if (logTerm !== term) {
      return Promise.reject(new StorageError('invalid', `snapshot at ${index} says term ${term}, but the durable entry there has term ${logTerm}`));
    }
    this.queued = { lastIndex: this.queued.lastIndex, snapshotIndex: index };
    return this.enqueue((resolve, reject) => ({ kind: 'snapshot', snapshot, resolve, reject }), 0);
  }

  /** First start of a member of the initial configuration: records its membership durably. */
  bootstrap(conf: ConfState): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    const snapshotQueued = this.queue.some((job) => job.kind === 'snapshot' || job.encoded.snapshot !== null);
    if (this.snapshots.count > 0 || snapshotQueued || this.queued.lastIndex !== 0) {
      return Promise.reject(new StorageError('invalid', 'bootstrap needs an empty data directory (it already holds a snapshot or entries)'));
    }
    const snapshot: Snapshot = { meta: { index: 0, term: 0, conf }, data: '' };
    return this.enqueue((resolve, reject) => ({ kind: 'snapshot', snapshot, resolve, reject }), 0);
  }

  status(): StorageStatus {
    return {
      state: this.state,
      reason: this.reason,
      segmentCount: this.log.segments.length,
      activeSegment: this.log.active.info.name,
      activeSegmentBytes: this.log.active.endBytes,
      snapshotIndex: this.durable.snapshotIndex,
      lastIndex: this.durable.lastIndex,
      queuedAppends: this.queue.length,
      warnings: [...this.warnings],
    };
  }

  metrics(): StorageMetrics {
    return this.recorder.snapshot();
  }

  /** Checks whether a full disk has space again (also run on a timer); resolves the new state. */
  probe(): Promise<StorageState> {
    if (this.state !== 'disk-full') return Promise.resolve(this.state);
    this.probing ??= this.probeOnce().finally(() => (this.probing = null));
    return this.probing;
  }

  private async probeOnce(): Promise<StorageState> {
    try {
      await probeFreeSpace(this.options.fileSystem, this.dir, this.options.diskFullProbeBytes);
      await this.log.cutTail();
    } catch (error) {
      if (!isDiskFull(error)) this.enter('failed', writeFailure(error, 'probing for free space'));
      return this.state;
    }
    if (this.state === 'disk-full') {
      this.state = 'ok';
      this.reason = null;
      this.stopProbe();
    }
    return this.state;
  }

  /** Writes what is queued, then closes the files; later calls reject with code 'closed'. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.loop;
    this.stopProbe();
    if (this.probing) await this.probing;
    await this.log.close();
    this.state = 'closed';
  }

  private refusal(): StorageError | null {
    if (this.closing) return new StorageError('closed', `storage ${this.dir} is closed`);
    if (this.state === 'disk-full') return new StorageError('disk-full', `disk full: storage ${this.dir} accepts no writes until space returns (${this.reason})`);
    if (this.state === 'failed') return new StorageError('io-error', `storage ${this.dir} failed and must be reopened: ${this.reason}`);
    return null;
  }

  private enqueue(make: (resolve: () => void, reject: (error: Error) => void) => Job, bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push(make(resolve, reject));
      this.queuedBytes += bytes;
      if (!this.running) {
        this.running = true;
        this.loop = this.run();
      }
    });
  }

  /**
   * The writer loop. `running` drops in the same tick the queue is seen empty: a caller resumed by
   * the last resolve may append at once, and must then start a new loop.
   */
  private async run(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0 || this.state !== 'ok') {
        this.running = false;
        return;
      }
      const head = this.queue[0]!;
      const jobs = head.kind === 'snapshot' ? [this.queue.shift()!] : this.takeBatch();
      try {
        if (head.kind === 'snapshot') await this.writeLocalSnapshot(head);
        else await this.writeBatch(jobs as AppendJob[]);
      } catch (error) {
        this.failAll(jobs, error);
        continue;
      }
      for (const job of jobs) job.resolve();
    }
  }

  /** The queued appends from the head, up to the next snapshot or maxBatchBytes (at least one). */
  private takeBatch(): AppendJob[] {
    const batch: AppendJob[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const job = this.queue[0]!;
      if (job.kind !== 'append') break;
      if (batch.length > 0 && (job.encoded.snapshot !== null || bytes + job.encoded.framedBytes > this.options.maxBatchBytes)) break;
      this.queue.shift();
      bytes += job.encoded.framedBytes;
      this.queuedBytes -= job.encoded.framedBytes;
      batch.push(job);
    }
    return batch;
  }

  private async writeBatch(batch: AppendJob[]): Promise<void> {
    const snapshot = batch[0]!.encoded.snapshot;
    if (snapshot) {
      await this.snapshots.save(snapshot, 'saving an installed snapshot');
      this.recorder.snapshotsSaved++;
    }
    try {
      await this.log.write(batch.flatMap((job) => job.encoded.bodies), this.hardStateDurable);
    } catch (error) {
      if (snapshot) await this.snapshots.unsave(snapshot, error);
      throw error;
    }
    this.recorder.appendCount += batch.length;
    for (const job of batch) {
      if (job.encoded.snapshot) this.terms.reset(job.encoded.snapshot.meta.index, job.encoded.snapshot.meta.term);
      this.terms.append(job.encoded.entries);
      this.log.active.info.coverageIndex = Math.max(this.log.active.info.coverageIndex, job.encoded.coverageIndex);
      this.durable = job.encoded.after;
      if (job.hardState) this.hardStateDurable = job.hardState;
    }
    if (snapshot) await this.afterSnapshot(snapshot.meta.index);
  }

  private async writeLocalSnapshot(job: SnapshotJob): Promise<void> {
    await this.snapshots.save(job.snapshot, 'saving a snapshot');
    this.recorder.snapshotsSaved++;
    this.terms.compact(job.snapshot.meta.index);
    this.durable = { lastIndex: Math.max(this.durable.lastIndex, job.snapshot.meta.index), snapshotIndex: job.snapshot.meta.index };
    await this.afterSnapshot(job.snapshot.meta.index);
  }

  /** Removes older snapshot files and the segments the snapshot covers; a failure only warns. */
  private async afterSnapshot(index: number): Promise<void> {
    const removed = (await this.log.removeCovered(index)) + (await this.snapshots.removeOlder((message) => this.warn(message)));
    if (removed > 0) await this.options.fileSystem.syncDir(this.dir).catch((error: unknown) => this.warn(`fsync of ${this.dir}: ${String(error)}`));
  }

  private failAll(batch: Job[], error: unknown): void {
    const failure = writeFailure(error, 'writing');
    this.enter(failure.code === 'disk-full' ? 'disk-full' : 'failed', failure);
    const pending = [...batch, ...this.queue.splice(0)];
    this.queuedBytes = 0;
    this.queued = this.durable;
    for (const job of pending) job.reject(failure);
  }

  private enter(state: 'disk-full' | 'failed', error: StorageError): void {
    this.state = state;
    this.reason = error.message;
    if (state === 'disk-full' && this.probeTimer === null) {
      this.probeTimer = setInterval(() => void this.probe(), this.options.diskFullProbeIntervalMs);
      this.probeTimer.unref();
    }
    if (state === 'failed') this.stopProbe();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private warn(message: string): void {
    this.warnings.push(message);
    if (this.warnings.length > MAX_WARNINGS) this.warnings.shift();
  }
}
