// A simulated disk for one node: an append-only file of records (log entries, hard state) with the
// faults a real disk has. Writes are volatile until a sync completes; a crash loses every write not
// yet synced and may leave the first of them on the platter torn (half written) or with a flipped
// bit, both caught by the record checksum on load; later unsynced writes may also have reached the
// platter (writeback is out of order) and are discarded with it, since a log is trusted only up to
// its first bad checksum. Disk-full windows reject appends; syncs may be slow.
// Invariants: records whose sync completed always survive a crash (faults strike only unsynced
// data, so every fault is recoverable and any lost acknowledged write is a bug in the caller);
// load() returns a prefix of what was appended; a sync begun before a crash never takes effect
// after it (each crash starts a new epoch); the file never holds more than `capacityRecords`.
// Sync positions count appends since the disk was made (a rewrite moves past every earlier
// position), so a sync that covers records a rewrite replaced completes harmlessly.

import type { Rng } from './rng.ts';

export interface DiskConfig {
  syncLatencyMinUs: number;
  /** Mean of an exponential tail added to `syncLatencyMinUs`. */
  syncLatencyMeanUs: number;
  /** Probability that a sync takes `slowSyncUs` longer. */
  slowSyncRate: number;
  slowSyncUs: number;
  /** On a crash with unsynced writes: probability that the first of them is left torn. */
  tornWriteRate: number;
  /** On a crash with unsynced writes and no torn write: probability that the first has a flipped bit. */
  bitFlipRate: number;
  /** Per append: probability that the disk turns full for `fullDurationUs`. */
  fullRate: number;
  fullDurationUs: number;
  /** The bound on records in the file; appends beyond it are rejected as disk full. */
  capacityRecords: number;
}

export interface DiskFaultCounts {
  tornWrite: number;
  bitFlip: number;
  /** Unsynced records lost to crashes. */
  lostWrites: number;
  /** Appends rejected because the disk was full (a fault window or the capacity bound). */
  full: number;
  slowSync: number;
}

/**
 * What `beginSync` hands back: schedule the completion at `doneAtUs`, then pass the token to
 * `completeSync`. Opaque to the caller apart from `doneAtUs`.
 */
export interface SyncToken {
  readonly doneAtUs: number;
  /** Append position (exclusive) the sync covers. */
  readonly upto: number;
  readonly epoch: number;
}

export interface DiskLoad<R> {
  records: R[];
  /** Records truncated from the tail of the file: the first corrupt one and all after it. */
  discarded: number;
}

export class SimDisk<R> {
  readonly fired: DiskFaultCounts = { tornWrite: 0, bitFlip: 0, lostWrites: 0, full: 0, slowSync: 0 };
  private readonly rng: Rng;
  private config: DiskConfig;
  /** The file, in parallel with one checksum-failure flag per record. */
  private records: R[] = [];
  private corrupt: boolean[] = [];
  private durableLength = 0;
  /** Append position of records[0]. */
  private positionFirst = 0;
  private epoch = 0;
  /** Between crash() and load() the process is dead: nothing may write. */
  private crashed = false;
  private fullUntilUs = 0;
  private nowUsLast = 0;

  constructor(rng: Rng, config: DiskConfig) {
    this.rng = rng;
    this.config = validateConfig(config);
  }

  setConfig(config: DiskConfig): void {
    this.config = validateConfig(config);
  }

  /** Records in the file, durable or not (after a crash, including a corrupt tail until load). */
  get size(): number {
    return this.records.length;
  }

  /** Records that a crash cannot lose. */
  get durableCount(): number {
    return this.durableLength;
  }

  /** Appends one record to the volatile tail; false, with nothing written, when the disk is full. */
  append(record: R, nowUs: number): boolean {
    this.checkWritable('append', nowUs);
    if (nowUs < this.fullUntilUs || this.records.length >= this.config.capacityRecords) {
      this.fired.full++;
      return false;
    }
    if (this.rng.chance(this.config.fullRate)) {
      this.fullUntilUs = nowUs + this.config.fullDurationUs;
      this.fired.full++;
      return false;
    }
    this.records.push(record);
    this.corrupt.push(false);
    return true;
  }

  /**
   * Starts an fsync covering every record appended so far. The caller schedules an event at
   * `doneAtUs` and then calls `completeSync` with the token; until then the records stay volatile.
   */
  beginSync(nowUs: number): SyncToken {
    this.checkWritable('beginSync', nowUs);
    const config = this.config;
    let latencyUs = config.syncLatencyMinUs + this.rng.exponential(config.syncLatencyMeanUs);
    if (this.rng.chance(config.slowSyncRate)) {
      this.fired.slowSync++;
      latencyUs += config.slowSyncUs;
    }
    return {
      doneAtUs: nowUs + Math.floor(latencyUs),
      upto: this.positionFirst + this.records.length,
      epoch: this.epoch,
    };
  }

  /**
   * Makes the records the sync covered durable. Returns false, changing nothing, when a crash came
   * between begin and complete: that sync was lost in the crash.
   */
  completeSync(token: SyncToken, nowUs: number): boolean {
    if (token.epoch !== this.epoch) return false;
    if (nowUs < token.doneAtUs) {
      throw new Error(`SimDisk.completeSync: called at ${nowUs}, before the sync is done at ${token.doneAtUs}`);
    }
    const length = token.upto - this.positionFirst;
    if (length > this.records.length) {
      throw new Error(`SimDisk.completeSync: token covers position ${token.upto}, past the end of the file`);
    }
    // Syncs may complete out of order; a later sync already covered an earlier one's records.
    if (length > this.durableLength) this.durableLength = length;
    return true;
  }

  /**
   * Atomically replaces the whole file, durably: models snapshot + log compaction done as write a
   * temporary file, fsync it, rename it over the old one. Disk-full windows do not apply; a
   * replacement larger than the capacity is a bug in the caller.
   */
  rewrite(records: readonly R[], nowUs: number): void {
    this.checkWritable('rewrite', nowUs);
    if (records.length > this.config.capacityRecords) {
      throw new Error(
        `SimDisk.rewrite: ${records.length} records exceed capacityRecords=${this.config.capacityRecords}`,
      );
    }
    this.positionFirst += this.records.length;
    this.records = records.slice();
    this.corrupt = new Array<boolean>(records.length).fill(false);
    this.durableLength = records.length;
  }

  /** kill -9 of the process (or power loss). A no-op on a disk already crashed and not yet loaded. */
  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.epoch++;
    const unsynced = this.records.length - this.durableLength;
    if (unsynced === 0) return;
    this.fired.lostWrites += unsynced;
    let kept = 0;
    if (this.rng.chance(this.config.tornWriteRate)) {
      this.fired.tornWrite++;
      kept = 1 + this.rng.int(0, unsynced - 1);
    } else if (this.rng.chance(this.config.bitFlipRate)) {
      this.fired.bitFlip++;
      kept = 1 + this.rng.int(0, unsynced - 1);
    }
    if (kept > 0) this.corrupt[this.durableLength] = true;
    this.truncate(this.durableLength + kept);
  }

  /**
   * What a restarting process reads back: every record up to the first that fails its checksum.
   * That record and everything after it are truncated from the file and counted as discarded.
   */
  load(): DiskLoad<R> {
    let good = 0;
    while (good < this.records.length && !this.corrupt[good]) good++;
    const discarded = this.records.length - good;
    this.truncate(good);
    if (this.durableLength > good) this.durableLength = good;
    this.crashed = false;
    return { records: this.records.slice(), discarded };
  }

  private truncate(length: number): void {
    this.records.length = length;
    this.corrupt.length = length;
  }

  private checkWritable(operation: string, nowUs: number): void {
    if (this.crashed) throw new Error(`SimDisk.${operation}: the disk crashed; load() it before writing`);
    if (nowUs < this.nowUsLast) {
      throw new Error(`SimDisk.${operation}: time went back from ${this.nowUsLast} to ${nowUs}`);
    }
    this.nowUsLast = nowUs;
  }
}

function validateConfig(config: DiskConfig): DiskConfig {
  for (const key of ['slowSyncRate', 'tornWriteRate', 'bitFlipRate', 'fullRate'] as const) {
    const rate = config[key];
    if (!(rate >= 0 && rate <= 1)) throw new Error(`DiskConfig.${key} must lie in [0, 1], got ${rate}`);
  }
  for (const key of ['syncLatencyMinUs', 'syncLatencyMeanUs', 'slowSyncUs', 'fullDurationUs'] as const) {
    const us = config[key];
    if (!(us >= 0 && Number.isFinite(us))) throw new Error(`DiskConfig.${key} must be finite and >= 0, got ${us}`);
  }
  if (!Number.isSafeInteger(config.capacityRecords) || config.capacityRecords < 1) {
    throw new Error(`DiskConfig.capacityRecords must be a positive integer, got ${config.capacityRecords}`);
  }
  return { ...config };
}
