// Shrinking: reduce a failing seed's fault plan to a minimal one that still fails the same checker,
// by delta debugging over the scheduled fault events (drop halves, then quarters, ... then single
// events) and then switching off the fault rates one by one. Deterministic, bounded in runs.

import { planFor, runSeed } from './runner.ts';
import { rateNames } from '../sim/nemesis.ts';
import type { ChaosOptions, FaultMask, SeedResult } from './types.ts';

/** Bound on simulated runs one shrink may spend. */
const maxShrinkRuns = 150;

export function shrink(options: ChaosOptions, failing: SeedResult, onProgress?: (tried: number, kept: number) => void): { options: ChaosOptions; result: SeedResult } {
  const checker = failing.violation?.checker;
  if (!checker) return { options, result: failing };
  const plan = planFor(options);
  let mask: FaultMask = options.mask ?? { events: plan.events.map((_, i) => i), rates: [...rateNames] };
  let best = { options, result: failing };
  let runs = 0;
  const stillFails = (candidate: FaultMask): boolean => {
    if (runs >= maxShrinkRuns) return false;
    runs++;
    const trial = { ...options, mask: candidate, trace: null };
    const result = runSeed(trial);
    onProgress?.(runs, candidate.events.length);
    if (result.violation?.checker !== checker) return false;
    best = { options: trial, result };
    return true;
  };
  // Delta debugging over events: try removing chunks, shrinking the chunk size when nothing goes.
  let chunk = Math.max(1, Math.ceil(mask.events.length / 2));
  while (chunk >= 1 && mask.events.length > 0 && runs < maxShrinkRuns) {
    let removedAny = false;
    for (let start = 0; start < mask.events.length && runs < maxShrinkRuns; ) {
      const candidate = { ...mask, events: [...mask.events.slice(0, start), ...mask.events.slice(start + chunk)] };
      if (stillFails(candidate)) {
        mask = candidate;
        removedAny = true;
      } else {
        start += chunk;
      }
    }
    if (!removedAny) chunk = Math.floor(chunk / 2);
  }
  for (const rate of rateNames) {
    if (!mask.rates.includes(rate)) continue;
    const candidate = { ...mask, rates: mask.rates.filter((r) => r !== rate) };
    if (stillFails(candidate)) mask = candidate;
  }
  return best;
}
