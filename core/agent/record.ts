// The agent's per-task bookkeeping: one mutable record per task it tracks (or per container the
// runtime held that no assignment names, until it is cleaned up). Private to core/agent.

import type { ContainerSpec } from '../ports.ts';
import type { HealthCheck, RestartPolicy, TaskId, TaskState } from '../state/types.ts';
import type { Assignment, TaskLocalStatus, TaskPhase } from './types.ts';

export interface TaskRecord {
  readonly taskId: TaskId;
  /** The latest assignment naming the task; null once it left the assignments, or never had one. */
  assignment: Assignment | null;
  /** Null only for a container found by adopt() that no assignment names. */
  readonly container: ContainerSpec | null;
  readonly healthCheck: HealthCheck | null;
  restartPolicy: RestartPolicy;
  readonly stopGraceMs: number;
  phase: TaskPhase;
  reported: TaskState | null;
  /** The task reached its final state here: no further run. */
  finished: boolean;
  /** Set once the managers want it gone (desired shutdown, left the assignments, terminal); never cleared. */
  shutdownRequested: boolean;
  imagePulled: boolean;
  /** Bumped each time a container run begins, so a probe of an earlier run is not counted. */
  incarnation: number;
  startedAtUs: number;
  nextProbeAtUs: number;
  probeInFlight: boolean;
  probeIncarnation: number;
  probeIssuedAtUs: number;
  healthFailures: number;
  /** Stops issued whose `exited` outcome has not arrived yet. */
  stopOutcomesOwed: number;
  restartsLocal: number;
  consecutiveFailures: number;
  /** When local restarts were decided, inside the policy's window (bounded). */
  restartAttemptsUs: number[];
  restartAtUs: number | null;
  lastFailure: string;
  lastExitCode: number | null;
}

export const noRestart: RestartPolicy = { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 };

export function newRecord(taskId: TaskId, assignment: Assignment | null, stopGraceMs: number): TaskRecord {
  return {
    taskId,
    assignment,
    container: assignment?.container ?? null,
    healthCheck: assignment?.healthCheck ?? null,
    restartPolicy: assignment?.restartPolicy ?? noRestart,
    stopGraceMs,
    phase: 'new',
    reported: null,
    finished: false,
    shutdownRequested: false,
    imagePulled: false,
    incarnation: 0,
    startedAtUs: 0,
    nextProbeAtUs: 0,
    probeInFlight: false,
    probeIncarnation: 0,
    probeIssuedAtUs: 0,
    healthFailures: 0,
    stopOutcomesOwed: 0,
    restartsLocal: 0,
    consecutiveFailures: 0,
    restartAttemptsUs: [],
    restartAtUs: null,
    lastFailure: '',
    lastExitCode: null,
  };
}

/** Whether the managers currently want a container running for the task, right now. */
export function wantsContainer(r: TaskRecord): boolean {
  return r.assignment !== null && r.assignment.task.desiredState === 'running' && !r.shutdownRequested && !r.finished && r.restartAtUs === null;
}

/** Idle phases in which no container exists. */
export function holdsNoContainer(r: TaskRecord): boolean {
  return r.phase === 'new' || r.phase === 'pulled' || r.phase === 'gone';
}

/** Floor on the probe interval, so a zero interval cannot make the agent probe in a tight loop. */
const minProbeIntervalMs = 1;

export function probeIntervalUs(check: HealthCheck): number {
  return Math.max(check.intervalMs, minProbeIntervalMs) * 1_000;
}

export function taskLocalStatus(r: TaskRecord): TaskLocalStatus {
  return {
    taskId: r.taskId,
    phase: r.phase,
    state: r.reported,
    desiredState: r.assignment?.task.desiredState ?? null,
    finished: r.finished,
    healthFailures: r.healthFailures,
    probeInFlight: r.probeInFlight,
    restartsLocal: r.restartsLocal,
    restartAtUs: r.restartAtUs,
  };
}
