// The restart policy of a slot (or of a global service's node): whether a task that ended is
// replaced, and when. Exponential backoff from the policy's delay, capped, with jitter derived from
// the ended task's id, so every pass and every leader computes the same moment (the decision itself
// goes through Raft). Attempts are counted over the policy's window.

import type { RestartPolicy, Task } from '../state/types.ts';
import type { ReconcilerConfig } from './config.ts';

export type RestartDecision = { readonly replace: false; readonly why: string } | { readonly replace: true; readonly atUs: number; readonly restartCount: number };

/** Ended by itself (exit, crash, failed health, refused image) rather than by the orchestrator. */
export function endedOnItsOwn(task: Task): boolean {
  return task.observedState === 'failed' || task.observedState === 'complete' || task.observedState === 'rejected';
}

/**
 * `ended` are the terminal tasks of the slot, oldest first; the last one is the one to replace.
 * A task the orchestrator ended or asked to stop (drain, node down, update, scale) is replaced at once.
 */
export function restartDecision(policy: RestartPolicy, ended: readonly Task[], nowUs: number, config: ReconcilerConfig): RestartDecision {
  const last = ended[ended.length - 1]!;
  // Asked to stop (shutdownCause set), it goes whatever its exit: a crash on the way is no restart.
  if (!endedOnItsOwn(last) || last.shutdownCause !== null) return { replace: true, atUs: nowUs, restartCount: last.restartCount };
  const failed = last.observedState !== 'complete';
  if (policy.condition === 'none') return { replace: false, why: `restart policy is none; task ${last.id} ended ${last.observedState}` };
  if (policy.condition === 'on-failure' && !failed) return { replace: false, why: `task ${last.id} completed and the restart policy is on-failure` };
  const windowStartUs = policy.windowMs === 0 ? -Infinity : nowUs - policy.windowMs * 1000;
  const attempts = ended.filter((t) => endedOnItsOwn(t) && t.updatedAtUs >= windowStartUs).length;
  if (policy.maxAttempts > 0 && attempts > policy.maxAttempts) {
    return { replace: false, why: `gave up after ${policy.maxAttempts} restart attempts` };
  }
  const consecutive = trailingFailures(ended);
  const baseUs = policy.delayMs * 1000 * 2 ** Math.min(Math.max(0, consecutive - 1), 20);
  const capped = Math.min(baseUs, config.maxRestartDelayUs);
  const delayUs = Math.floor(capped * (1 + config.restartJitterFraction * jitter(last.id)));
  return { replace: true, atUs: last.updatedAtUs + delayUs, restartCount: last.restartCount + 1 };
}

function trailingFailures(ended: readonly Task[]): number {
  let n = 0;
  for (let i = ended.length - 1; i >= 0 && endedOnItsOwn(ended[i]!); i--) n++;
  return n;
}

/** A stable fraction in [0, 1) from an id (FNV-1a), so the jitter is the same on every pass. */
export function jitter(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h / 4294967296;
}
