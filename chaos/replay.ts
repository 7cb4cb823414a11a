// What every seed runner shares: the default options a run starts from, the command that replays
// a run exactly, and how an exception thrown inside the simulated world becomes a violation.

import { InvariantError } from '../core/assert.ts';
import { formatMask } from './mask.ts';
import { workloadFaultClasses, type ChaosOptions, type Violation } from './types.ts';

export const defaultChaosOptions: ChaosOptions = {
  seed: 1,
  workload: 'kv',
  nodes: 5,
  faults: workloadFaultClasses.kv,
  durationSimSeconds: 20,
  bugs: [],
  opsPerSecond: 100,
  mask: null,
  trace: null,
};

export function replayCommand(options: ChaosOptions): string {
  const parts = ['warren chaos replay', `--seed ${options.seed}`];
  if (options.workload !== defaultChaosOptions.workload) parts.push(`--workload ${options.workload}`);
  if (options.nodes !== defaultChaosOptions.nodes) parts.push(`--nodes ${options.nodes}`);
  const classes = workloadFaultClasses[options.workload];
  const all = classes.every((c) => options.faults.includes(c));
  parts.push(`--faults ${all ? 'all' : options.faults.length === 0 ? 'none' : options.faults.join(',')}`);
  if (options.durationSimSeconds !== defaultChaosOptions.durationSimSeconds) parts.push(`--duration ${options.durationSimSeconds}`);
  for (const bug of options.bugs) parts.push(`--inject-bug ${bug}`);
  if (options.mask) parts.push(`--shrink-mask '${formatMask(options.mask)}'`);
  return parts.join(' ');
}

/** Known failures keep their checker's name; anything else thrown in the world is a crash of the code under test. */
export function classifyError(e: unknown, nowUs: number, known: (e: unknown) => Violation | null): Violation {
  const violation = known(e);
  if (violation !== null) return violation;
  if (e instanceof InvariantError) return { checker: 'invariant', message: `assertion failed in the core: ${e.message}`, simTimeUs: nowUs };
  const err = e instanceof Error ? e : new Error(String(e));
  return { checker: 'crash', message: `${err.name}: ${err.message}${err.stack ? ` @ ${err.stack.split('\n')[1]?.trim() ?? ''}` : ''}`, simTimeUs: nowUs };
}
