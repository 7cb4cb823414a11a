// The restart policy as the agent applies it locally while cut off from the managers: whether an
// ended run is restarted, after what delay (exponential from the policy's delay, capped, stretched
// by jitter from the injected generator), and whether the attempts within the window are used up.
// Pure functions; the agent keeps the per-task history (bounded by `maxRestartHistory`).

import type { RestartPolicy } from '../state/types.ts';

/** Bound on the restart times remembered per task; a larger maxAttempts behaves as unlimited. */
export const maxRestartHistory = 1024;

/** How a run ended, as far as the restart condition cares. */
export type RunOutcome = 'complete' | 'failed';

export function restartWanted(policy: RestartPolicy, outcome: RunOutcome): boolean {
  switch (policy.condition) {
    case 'none': return false;
    case 'on-failure': return outcome === 'failed';
    case 'any': return true;
  }
}

/**
 * Delay before the restart following the `consecutiveFailures`-th failure in a row (1-based):
 * delayMs · 2^(n-1), capped at max(capMs, delayMs), then stretched by up to `jitterFraction`.
 * Never shorter than the policy's delay, so jitter only spreads restarts later.
 */
export function restartDelayUs(policy: RestartPolicy, consecutiveFailures: number, capMs: number, jitterFraction: number, random: () => number): number {
  const baseMs = Math.max(0, policy.delayMs);
  const exponent = Math.min(Math.max(consecutiveFailures, 1) - 1, 40);
  const nominalMs = Math.min(baseMs * 2 ** exponent, Math.max(capMs, baseMs));
  const draw = random();
  return Math.floor(nominalMs * 1_000 * (1 + jitterFraction * draw));
}

/** The restart times still inside the policy's window at `nowUs` (windowMs 0 = for ever). */
export function attemptsInWindow(policy: RestartPolicy, attemptTimesUs: readonly number[], nowUs: number): number[] {
  const kept = policy.windowMs > 0 ? attemptTimesUs.filter((t) => t > nowUs - policy.windowMs * 1_000) : [...attemptTimesUs];
  return kept.slice(-maxRestartHistory);
}

/** Whether the policy still allows one more attempt given the attempts inside its window. */
export function attemptsLeft(policy: RestartPolicy, attemptsInsideWindow: number): boolean {
  return policy.maxAttempts <= 0 || policy.maxAttempts > maxRestartHistory || attemptsInsideWindow < policy.maxAttempts;
}
