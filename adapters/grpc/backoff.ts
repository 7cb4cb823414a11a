// Capped exponential backoff with "equal jitter" for reconnecting to a peer: the n-th consecutive
// failure waits a delay drawn uniformly from [ceiling / 2, ceiling], where ceiling = min(maxMs,
// minMs * 2^n). Half the ceiling is always waited, so a peer that is down is retried at a bounded
// rate; the random half spreads the managers' retries so they do not reconnect in lockstep after a
// shared outage. reset() after a stream is accepted starts again from minMs.

export class Backoff {
  private failures = 0;

  constructor(
    readonly minMs: number,
    readonly maxMs: number,
    private readonly random: () => number,
  ) {
    if (!(minMs > 0) || !(maxMs >= minMs)) throw new RangeError(`backoff needs 0 < minMs <= maxMs, got ${minMs} and ${maxMs}`);
  }

  /** The delay before the next attempt; each call counts one more consecutive failure. */
  nextDelayMs(): number {
    // The exponent is capped so that 2^n never overflows to Infinity after a very long outage.
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 52));
    this.failures++;
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}
