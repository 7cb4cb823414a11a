// Counters of the WAL's durability work, kept for the daemon's /metrics (prom-client lives in the
// daemon; this module only counts). fsync latency goes into a fixed-bucket histogram.

/** Upper bounds (ms) of the fsync latency buckets; the last bucket is +Inf. */
export const FSYNC_BUCKETS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

export interface StorageMetrics {
  /** Batch fsyncs (fdatasync of the active segment), each covering one group-commit batch. */
  readonly fsyncCount: number;
  readonly fsyncTotalMs: number;
  readonly fsyncMaxMs: number;
  /** Cumulative counts per FSYNC_BUCKETS_MS bound, then +Inf (Prometheus histogram style). */
  readonly fsyncBucketCounts: readonly number[];
  /** Appends acknowledged (each one append() call). */
  readonly appendCount: number;
  readonly bytesWritten: number;
  readonly segmentsCreated: number;
  readonly segmentsRemoved: number;
  readonly snapshotsSaved: number;
}

export class MetricsRecorder {
  private fsyncCount = 0;
  private fsyncTotalMs = 0;
  private fsyncMaxMs = 0;
  private readonly buckets = new Array<number>(FSYNC_BUCKETS_MS.length + 1).fill(0);
  appendCount = 0;
  bytesWritten = 0;
  segmentsCreated = 0;
  segmentsRemoved = 0;
  snapshotsSaved = 0;

  fsync(latencyMs: number): void {
    this.fsyncCount++;
    this.fsyncTotalMs += latencyMs;
    this.fsyncMaxMs = Math.max(this.fsyncMaxMs, latencyMs);
    let bucket = FSYNC_BUCKETS_MS.findIndex((bound) => latencyMs <= bound);
    if (bucket === -1) bucket = FSYNC_BUCKETS_MS.length;
    this.buckets[bucket]!++;
  }

  snapshot(): StorageMetrics {
    let running = 0;
    const cumulative = this.buckets.map((count) => (running += count));
    return {
      fsyncCount: this.fsyncCount,
      fsyncTotalMs: this.fsyncTotalMs,
      fsyncMaxMs: this.fsyncMaxMs,
      fsyncBucketCounts: cumulative,
      appendCount: this.appendCount,
      bytesWritten: this.bytesWritten,
      segmentsCreated: this.segmentsCreated,
      segmentsRemoved: this.segmentsRemoved,
      snapshotsSaved: this.snapshotsSaved,
    };
  }
}
