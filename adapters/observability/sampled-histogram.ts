// A Prometheus histogram whose buckets are counted elsewhere and copied in at scrape time: the WAL's
// fsync latency, which adapters/storage counts itself (MetricsRecorder, FSYNC_BUCKETS_MS) because
// prom-client belongs to the daemon. Re-observing from the WAL's totals would lose the real
// distribution and its sum, so this exports the recorder's cumulative buckets, sum and count as they
// are, with the bounds converted from milliseconds to seconds (Prometheus' base unit).
//
// prom-client has no public histogram whose buckets can be set, so this is a small metric object
// of its own that the Registry serialises like any other (it reads name, help, type, aggregator and
// get()). metrics.test.ts checks the exposition against the recorder's numbers, so a prom-client
// change that broke this shape fails there.
// Invariants: the exported buckets are cumulative and end with +Inf equal to _count; before the
// first sample, every bucket, the sum and the count are 0.

import type { Metric, Registry } from 'prom-client';

export interface HistogramSample {
  /** Cumulative counts per upper bound, then one more for +Inf (equal to count). */
  readonly bucketCounts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

interface ExportedValue {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

export class SampledHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly string[] = [];
  private sample: HistogramSample;

  /** upperBounds in the unit of the exported values, ascending, without +Inf. */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    for (let i = 1; i < upperBounds.length; i++) {
      if (!(upperBounds[i]! > upperBounds[i - 1]!)) throw new Error(`histogram ${name}: upper bounds must be ascending, got ${upperBounds.join(', ')}`);
    }
    this.sample = { bucketCounts: new Array<number>(upperBounds.length + 1).fill(0), sum: 0, count: 0 };
    // The Registry accepts prom-client's own classes in its types; it uses only the members above.
    registry.registerMetric(this as unknown as Metric);
  }

  /** Replaces the exported state with a new cumulative sample. */
  set(sample: HistogramSample): void {
    const expected = this.upperBounds.length + 1;
    if (sample.bucketCounts.length !== expected) {
      throw new Error(`histogram ${this.name}: ${sample.bucketCounts.length} bucket counts given, ${expected} expected (bounds then +Inf)`);
    }
    for (let i = 1; i < expected; i++) {
      if (sample.bucketCounts[i]! < sample.bucketCounts[i - 1]!) throw new Error(`histogram ${this.name}: bucket counts must be cumulative`);
    }
    if (sample.bucketCounts[expected - 1] !== sample.count) {
      throw new Error(`histogram ${this.name}: the +Inf bucket (${sample.bucketCounts[expected - 1]}) must equal the count (${sample.count})`);
    }
    this.sample = { bucketCounts: [...sample.bucketCounts], sum: sample.sum, count: sample.count };
  }

  reset(): void {
    this.sample = { bucketCounts: new Array<number>(this.upperBounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] }> {
    const bucketName = `${this.name}_bucket`;
    const values: ExportedValue[] = this.upperBounds.map((bound, i) => ({ metricName: bucketName, labels: { le: bound }, value: this.sample.bucketCounts[i]! }));
    values.push(
      { metricName: bucketName, labels: { le: '+Inf' }, value: this.sample.count },
      { metricName: `${this.name}_sum`, labels: {}, value: this.sample.sum },
      { metricName: `${this.name}_count`, labels: {}, value: this.sample.count },
    );
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Milliseconds to seconds without float noise in the bucket labels (0.25 ms -> 0.00025, not 0.00025000000000000006). */
export function millisecondsToSeconds(ms: number): number {
  return Number((ms / 1000).toPrecision(12));
}
