// Test support for the process runtime's tests: a temporary state directory, an event recorder
// that tests can wait on, container specs for `sh -c` scripts, and a cleanup that SIGKILLs every
// process group a test's records name, so no test leaves a process behind.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerSpec, RuntimeEvent } from '../../../core/ports.ts';
import type { TaskId } from '../../../core/state/types.ts';
import { findGroupLeadersWithArgument, identify, isAlive, signalGroup } from './proc.ts';
import { readRecordSync, taskPaths, tasksDirOf } from './records.ts';
import { ProcessRuntime } from './runtime.ts';
import type { ProcessRuntimeOptions } from './task.ts';

export const tid = (s: string): TaskId => s as TaskId;

export function shSpec(script: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: 'process:sh',
    command: [],
    args: ['-c', script],
    env: {},
    limits: { cpuMillis: 0, memoryBytes: 0 },
    mounts: [],
    secrets: [],
    ports: [],
    stopGracePeriodMs: 1_000,
    ...overrides,
  };
}

/** Collects a runtime's events; tests await the ones they expect, with a deadline. */
export class EventRecorder {
  readonly events: RuntimeEvent[] = [];
  private waiters: { match: (e: RuntimeEvent) => boolean; from: number; resolve: (e: RuntimeEvent) => void }[] = [];

  readonly sink = (event: RuntimeEvent): void => {
    this.events.push(event);
    const index = this.events.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (index < w.from || !w.match(event)) return true;
      w.resolve(event);
      return false;
    });
  };

  /** The first event at or after index `from` that matches, waiting up to timeoutMs for it. */
  wait(match: (e: RuntimeEvent) => boolean, timeoutMs = 3_000, from = 0): Promise<RuntimeEvent> {
    const found = this.events.slice(from).find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`)), timeoutMs);
      this.waiters.push({ match, from, resolve: (e) => { clearTimeout(timer); resolve(e); } });
    });
  }

  of(taskId: TaskId, type: RuntimeEvent['type']): RuntimeEvent[] {
    return this.events.filter((e) => e.taskId === taskId && e.type === type);
  }
}

/** A state directory and the runtimes opened on it; cleanup() kills what they started. */
export class Sandbox {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'warren-process-runtime-'));
  private readonly runtimes: ProcessRuntime[] = [];

  /** A runtime on this directory, polling every 50 ms; `to` is a recorder or any event sink. */
  open(to: EventRecorder | ((event: RuntimeEvent) => void), options: ProcessRuntimeOptions = {}): ProcessRuntime {
    const sink = to instanceof EventRecorder ? to.sink : to;
    const runtime = new ProcessRuntime(this.stateDir, sink, { pollIntervalMs: 50, ...options });
    this.runtimes.push(runtime);
    return runtime;
  }

  cleanup(): void {
    for (const runtime of this.runtimes) runtime.close();
    killRecorded(this.stateDir);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** SIGKILLs every live process group that a record under stateDir names or whose shim it owns. */
export function killRecorded(stateDir: string): void {
  let names: string[];
  try {
    names = readdirSync(tasksDirOf(stateDir));
  } catch {
    return;
  }
  for (const name of names) {
    const paths = taskPaths(stateDir, name);
    for (const pid of findGroupLeadersWithArgument(paths.exitStatus)) signalGroup(pid, 'SIGKILL');
    const record = readRecordSync(paths.record, name);
    if (record?.pid != null && isAlive({ pid: record.pid, startTicks: record.startTicks, bootId: record.bootId })) {
      signalGroup(record.pid, 'SIGKILL');
    }
  }
}

/** Whether a process (by pid alone, checked now) runs and is not a zombie. */
export const pidRuns = (pid: number): boolean => isAlive({ ...identify(pid), startTicks: null });

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 20 ms until it holds, failing after timeoutMs. */
export async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
