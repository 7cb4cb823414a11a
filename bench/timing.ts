// The summary every benchmark reports for repeated runs of one measurement (median, min and max),
// and the rounding of the numbers they print.

export interface Timing {
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export function timings(samplesMs: readonly number[]): Timing {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor((sorted.length - 1) / 2)]!, minMs: sorted[0]!, maxMs: sorted.at(-1)! };
}

/** `value` rounded to `places` decimal places. */
export function round(value: number, places: number): number {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
}
