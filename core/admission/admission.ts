// Admission control for client requests at a manager: a token bucket (a sustained rate with a
// bounded burst) and a bound on client requests in flight. A request beyond either is shed at once
// with an error that says which limit it hit and when to retry, and it changes nothing. The
// cluster's own traffic (reconciler proposals, worker heartbeats and reports) never passes through
// here, so a flood of clients cannot starve the control loop or make healthy nodes look down.
// Pure and deterministic: time comes in as an argument, in microseconds.
// Invariants: tokens stay within [0, burst]; inFlight within [0, maxInFlight]; admit() consumes a
// token and a slot only when it admits; release() frees exactly one admitted slot.

export interface AdmissionConfig {
  /** Sustained client requests admitted per second. */
  readonly ratePerSecond: number;
  /** Requests admitted back to back after a quiet period (the bucket's size). */
  readonly burst: number;
  /** Client requests admitted and not yet answered. */
  readonly maxInFlight: number;
}

export const defaultAdmissionConfig: AdmissionConfig = { ratePerSecond: 1_000, burst: 200, maxInFlight: 256 };

export type Admission =
  | { readonly ok: true }
  | { readonly ok: false; readonly limit: 'rate' | 'in-flight'; readonly retryAfterUs: number; readonly message: string };

export function validateAdmissionConfig(config: AdmissionConfig): AdmissionConfig {
  for (const key of ['ratePerSecond', 'burst', 'maxInFlight'] as const) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`admission ${key} must be a positive integer, got ${String(v)}`);
  }
  return config;
}

/** Retry hint when the in-flight bound is hit: about one commit round trip. */
const inFlightRetryUs = 10_000;

export class AdmissionLimiter {
  private tokens: number;
  private refilledAtUs: number | null = null;
  private inFlight = 0;
  admitted = 0;
  shed = 0;

  constructor(private readonly config: AdmissionConfig) {
    validateAdmissionConfig(config);
    this.tokens = config.burst;
  }

  /** Admit one request at `nowUs`, or say why not and when to retry. */
  admit(nowUs: number): Admission {
    this.refill(nowUs);
    const { ratePerSecond, burst, maxInFlight } = this.config;
    if (this.inFlight >= maxInFlight) {
      this.shed++;
      return { ok: false, limit: 'in-flight', retryAfterUs: inFlightRetryUs, message: `${this.inFlight} client requests in flight (limit ${maxInFlight})` };
    }
    if (this.tokens < 1) {
      this.shed++;
      const retryAfterUs = Math.max(1, Math.ceil(((1 - this.tokens) * 1e6) / ratePerSecond));
      return { ok: false, limit: 'rate', retryAfterUs, message: `client requests exceed ${ratePerSecond}/s (burst ${burst})` };
    }
    this.tokens -= 1;
    this.inFlight++;
    this.admitted++;
    return { ok: true };
  }

  /** An admitted request was answered (or will never be). */
  release(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  /** Forget requests in flight (the process restarted: nobody is waiting for them). */
  reset(): void {
    this.inFlight = 0;
  }

  inFlightCount(): number {
    return this.inFlight;
  }

  private refill(nowUs: number): void {
    if (this.refilledAtUs === null || nowUs < this.refilledAtUs) {
      this.refilledAtUs = nowUs;
      return;
    }
    const elapsedUs = nowUs - this.refilledAtUs;
    this.refilledAtUs = nowUs;
    this.tokens = Math.min(this.config.burst, this.tokens + (elapsedUs * this.config.ratePerSecond) / 1e6);
  }
}
