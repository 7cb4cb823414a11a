// One task's container lifecycle, as functions over its record: how each runtime outcome moves it,
// and, from an idle phase, which single action comes next (converge). Effects leave through the
// context (actions to emit, reports to queue); the Agent owns the records, time and bookkeeping.
// Invariants: an action is emitted only from an idle phase, so one lifecycle action is in flight
// per task at most; a create happens only from 'pulled' (no container held); while connected a
// failure finishes the task, while disconnected the restart policy may schedule a local restart.

import { assert, assertNever } from '../assert.ts';
import type { ContainerStatus, RuntimeAction } from '../ports.ts';
import type { TaskState } from '../state/types.ts';
import { probeIntervalUs, wantsContainer, type TaskRecord } from './record.ts';
import { attemptsInWindow, attemptsLeft, maxRestartHistory, restartDelayUs, restartWanted, type RunOutcome } from './restart.ts';
import type { AgentConfig } from './types.ts';

export interface LifecycleContext {
  readonly config: AgentConfig;
  connected(): boolean;
  emit(action: RuntimeAction): void;
  report(r: TaskRecord, state: TaskState, exitCode: number | null, message: string, nowUs: number): void;
}

/**
 * Whether a pull error means the image does not exist (the task can never run here: rejected)
 * rather than a transient failure. The runtime port carries only a message, so this reads it.
 */
export function isMissingImageError(message: string): boolean {
  return /not found|manifest unknown|no such image|does not exist|pull access denied/i.test(message);
}

/** Takes over a container the runtime already holds for the task (after an agent restart). */
export function adoptContainer(ctx: LifecycleContext, r: TaskRecord, c: ContainerStatus, nowUs: number): void {
  r.imagePulled = true;
  switch (c.state) {
    case 'running':
      r.phase = 'running';
      if (wantsContainer(r)) enterRunning(ctx, r, nowUs, 'adopted the running container after an agent restart');
      return;
    case 'created':
      r.phase = 'created';
      return;
    case 'exited': {
      r.phase = 'exited';
      if (!wantsContainer(r)) return;
      const code = c.exitCode;
      const message = code === null ? 'container exited while the agent was down' : `exited with code ${code} while the agent was down`;
      fail(ctx, r, code === 0 ? 'complete' : 'failed', code, message, nowUs);
      return;
    }
    default: assertNever(c.state, 'container state');
  }
}

export function onPulled(ctx: LifecycleContext, r: TaskRecord, ok: boolean, error: string | null, nowUs: number): void {
  if (r.phase !== 'pulling') return;
  if (ok) {
    r.imagePulled = true;
    r.phase = 'pulled';
    return;
  }
  r.phase = 'gone';
  if (!wantsContainer(r)) return;
  const message = error ?? 'image pull failed';
  if (isMissingImageError(message)) {
    r.finished = true;
    ctx.report(r, 'rejected', null, message, nowUs);
    return;
  }
  fail(ctx, r, 'failed', null, message, nowUs);
}

export function onCreated(ctx: LifecycleContext, r: TaskRecord, ok: boolean, error: string | null, nowUs: number): void {
  if (r.phase !== 'creating') return;
  if (ok) {
    r.phase = 'created';
    return;
  }
  r.phase = 'gone';
  if (wantsContainer(r)) fail(ctx, r, 'failed', null, error ?? 'container create failed', nowUs);
}

export function onStarted(ctx: LifecycleContext, r: TaskRecord, ok: boolean, error: string | null, nowUs: number): void {
  if (r.phase !== 'starting') return;
  if (ok) {
    r.phase = 'running';
    if (wantsContainer(r)) enterRunning(ctx, r, nowUs, 'started');
    return;
  }
  // A container that failed to start may still be held by the runtime: remove it either way.
  r.phase = 'exited';
  if (wantsContainer(r)) fail(ctx, r, 'failed', null, error ?? 'container start failed', nowUs);
}

/**
 * Every stop gets exactly one `exited`, so while stops are owed an exit is taken as a stop's outcome.
 * An `exited` carries no run id: if a container crashed just before the runtime performed our stop,
 * two exits arrive for one stop, and the second is read as a crash of whatever runs then (a spurious
 * failure of a later local restart at worst; never a duplicate container).
 */
export function onExited(ctx: LifecycleContext, r: TaskRecord, exitCode: number, oomKilled: boolean, nowUs: number): void {
  if (r.stopOutcomesOwed > 0) {
    r.stopOutcomesOwed--;
    if (r.phase === 'stopping') r.phase = 'exited';
    return;
  }
  if (r.phase !== 'running') return;
  r.phase = 'exited';
  if (!wantsContainer(r)) return;
  // A run that lasted longer than the longest backoff ends the streak of quick failures.
  if (nowUs - r.startedAtUs >= ctx.config.maxRestartDelayMs * 1_000) r.consecutiveFailures = 0;
  const message = `exited with code ${exitCode}${oomKilled ? ' (OOM killed)' : ''}`;
  fail(ctx, r, exitCode === 0 ? 'complete' : 'failed', exitCode, message, nowUs);
}

export function onProbed(ctx: LifecycleContext, r: TaskRecord, healthy: boolean, message: string, nowUs: number): void {
  const check = r.healthCheck;
  if (r.phase !== 'running' || r.probeIncarnation !== r.incarnation || !wantsContainer(r) || check === null) return;
  // Stay on the probe's interval grid: a slow answer skips the slots it overran, so probes never
  // run back to back.
  const intervalUs = probeIntervalUs(check);
  r.nextProbeAtUs = r.probeIssuedAtUs + intervalUs * (Math.floor((nowUs - r.probeIssuedAtUs) / intervalUs) + 1);
  if (healthy) {
    r.healthFailures = 0;
    return;
  }
  r.healthFailures++;
  if (r.healthFailures >= Math.max(1, check.retries)) {
    fail(ctx, r, 'failed', null, `health check failed ${r.healthFailures} times: ${message}`, nowUs);
  }
}

/** From an idle phase, the one next step toward what the managers want; nothing while an action is in flight. */
export function converge(ctx: LifecycleContext, r: TaskRecord, nowUs: number): void {
  const want = wantsContainer(r);
  switch (r.phase) {
    case 'pulling': case 'creating': case 'starting': case 'stopping': case 'removing':
      return; // an action is in flight; its outcome decides
    case 'new':
      if (!want) return finishShutdown(ctx, r, nowUs);
      ctx.report(r, 'assigned', null, 'accepted by the node', nowUs);
      return pull(ctx, r);
    case 'pulled':
      return want ? create(ctx, r, nowUs) : finishShutdown(ctx, r, nowUs);
    case 'created':
      if (!want) return remove(ctx, r);
      r.phase = 'starting';
      return ctx.emit({ type: 'start', taskId: r.taskId });
    case 'running':
      if (!want) stop(ctx, r);
      return;
    case 'exited':
      return remove(ctx, r);
    case 'gone':
      return convergeGone(ctx, r, nowUs);
    default: assertNever(r.phase, 'task phase');
  }
}

function convergeGone(ctx: LifecycleContext, r: TaskRecord, nowUs: number): void {
  if (r.restartAtUs === null) {
    assert(!wantsContainer(r), () => `task ${r.taskId} is wanted but has no container and no restart pending`);
    return finishShutdown(ctx, r, nowUs);
  }
  if (r.shutdownRequested || r.assignment === null || r.assignment.task.desiredState !== 'running' || ctx.connected()) {
    r.restartAtUs = null;
    r.finished = true;
    return;
  }
  if (nowUs >= r.restartAtUs) restart(ctx, r, nowUs);
}

function finishShutdown(ctx: LifecycleContext, r: TaskRecord, nowUs: number): void {
  if (r.finished) return;
  r.finished = true;
  ctx.report(r, 'shutdown', null, 'shut down', nowUs);
}

function restart(ctx: LifecycleContext, r: TaskRecord, nowUs: number): void {
  r.restartAtUs = null;
  r.restartsLocal++;
  ctx.report(r, 'starting', null, `restarting locally while disconnected (restart ${r.restartsLocal}) after: ${r.lastFailure}`, nowUs);
  if (r.imagePulled) create(ctx, r, nowUs);
  else pull(ctx, r);
}

/**
 * A run ended (or could not begin) while the managers want the task running: report it, then
 * either schedule a local restart (disconnected, and the policy allows) or finish the task.
 * The caller has set the phase; converge removes a leftover container.
 */
export function fail(ctx: LifecycleContext, r: TaskRecord, outcome: RunOutcome, exitCode: number | null, message: string, nowUs: number): void {
  const state: TaskState = outcome;
  r.consecutiveFailures++;
  r.lastFailure = message;
  r.lastExitCode = exitCode;
  const policy = r.restartPolicy;
  if (ctx.connected() || !restartWanted(policy, outcome)) {
    r.finished = true;
    return ctx.report(r, state, exitCode, message, nowUs);
  }
  const attempts = attemptsInWindow(policy, r.restartAttemptsUs, nowUs);
  if (!attemptsLeft(policy, attempts.length)) {
    r.restartAttemptsUs = attempts;
    r.finished = true;
    const window = policy.windowMs > 0 ? `within ${policy.windowMs} ms` : 'in all';
    return ctx.report(r, state, exitCode, `${message}; not restarted: the restart policy allows ${policy.maxAttempts} attempts ${window}`, nowUs);
  }
  attempts.push(nowUs);
  r.restartAttemptsUs = attempts.slice(-maxRestartHistory);
  const delayUs = restartDelayUs(policy, r.consecutiveFailures, ctx.config.maxRestartDelayMs, ctx.config.restartJitterFraction, ctx.config.random);
  r.restartAtUs = nowUs + delayUs;
  ctx.report(r, state, exitCode, `${message}; restarting locally in ${Math.ceil(delayUs / 1_000)} ms`, nowUs);
}

function enterRunning(ctx: LifecycleContext, r: TaskRecord, nowUs: number, message: string): void {
  r.phase = 'running';
  r.incarnation++;
  r.startedAtUs = nowUs;
  r.healthFailures = 0;
  if (r.healthCheck !== null) r.nextProbeAtUs = nowUs + r.healthCheck.startPeriodMs * 1_000 + probeIntervalUs(r.healthCheck);
  ctx.report(r, 'running', null, message, nowUs);
}

function pull(ctx: LifecycleContext, r: TaskRecord): void {
  assert(r.container !== null, () => `task ${r.taskId} has no container spec to pull`);
  r.phase = 'pulling';
  ctx.emit({ type: 'pull', taskId: r.taskId, image: r.container.image });
}

function create(ctx: LifecycleContext, r: TaskRecord, nowUs: number): void {
  assert(r.container !== null, () => `task ${r.taskId} has no container spec to create`);
  if (r.reported !== 'starting') ctx.report(r, 'starting', null, 'creating the container', nowUs);
  r.phase = 'creating';
  ctx.emit({ type: 'create', taskId: r.taskId, spec: r.container });
}

function stop(ctx: LifecycleContext, r: TaskRecord): void {
  r.phase = 'stopping';
  r.stopOutcomesOwed++;
  ctx.emit({ type: 'stop', taskId: r.taskId, graceMs: r.stopGraceMs });
}

function remove(ctx: LifecycleContext, r: TaskRecord): void {
  r.phase = 'removing';
  ctx.emit({ type: 'remove', taskId: r.taskId });
}