// The process runtime: the embedded default that needs nothing installed. Each task's program runs
// as a child process (under a small shim, see shim.ts) in its own process group and session, with
// its own working directory and environment, its stdout/stderr appended to per-task log files,
// and a durable record per task (records.ts), so that a restarted daemon adopts what still runs.
// It implements the runtime port of core/ports.ts the way sim/runtime.ts simulates it:
// - every action gets exactly one outcome event (returned by act()'s handler, emitted once);
//   `exited` also arrives unasked when a process ends on its own, and never before its `started`;
// - an end that a stop or remove is waiting for is reported by that action's outcome only, so one
//   end never yields two `exited` events;
// - lifecycle actions of one task run one after another (a lane per task); probes run alongside;
// - stop: SIGTERM to the process group, SIGKILL after graceMs; the exit code is the program's, or
//   128 + signal when a signal ended it (143 for SIGTERM, 137 for SIGKILL);
// - remove of a running task SIGKILLs it first; logs outlive removal (bounded by maxRetainedLogs);
// - memory limits are enforced by measurement: every pollIntervalMs the resident memory of the
//   task's process group is summed, and a group above its limit is SIGKILLed and reported
//   `exited` 137 with oomKilled. A burst between two measurements is not caught. CPU limits are
//   not enforced (they only inform placement). Ports are not remapped: a task shares the host's
//   network and listens on its target port itself (published ports are the ingress's business).
// Linux is the platform: /proc names processes across pid reuse (see proc.ts).

import { mkdirSync } from 'node:fs';
import type { ContainerSpec, ContainerStatus, RuntimeAction, RuntimeEvent } from '../../../core/ports.ts';
import type { HealthCheck, TaskId } from '../../../core/state/types.ts';
import { loadTasks } from './adopt.ts';
import { checkImage, commandLineOf } from './image.ts';
import { unprepareTask, prepareTask } from './prepare.ts';
import { runProbe } from './probe.ts';
import { hasExecutedChild, identify, isAlive, residentBytesByGroup, signalGroup } from './proc.ts';
import { deleteRecord, isSafeName, pruneRemovedLogs, readExitStatusSync, taskPaths, tasksDirOf, writeRecord, type TaskRecordFile } from './records.ts';
import { exitCodeKilled, launchShim } from './shim.ts';
import { exitCodeOf, newRun, processRuntimeConfig, type ProcessRuntimeConfig, type ProcessRuntimeOptions, type Run, type RuntimeTask } from './task.ts';

const byTaskId = (a: RuntimeTask, b: RuntimeTask): number => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class ProcessRuntime {
  private readonly config: ProcessRuntimeConfig;
  private readonly tasks: Map<TaskId, RuntimeTask>;
  /** The lifecycle action in progress per task, the next one chained after it. */
  private readonly lanes = new Map<TaskId, Promise<void>>();
  private readonly poller: NodeJS.Timeout;
  private closed = false;
  private actionsInFlight = 0;

  /**
   * Loads the task records under stateDir and adopts the processes that still run (synchronous).
   * Call list() and hand it to the agent's adopt() in the same synchronous step: an `exited` sent
   * before list() is already reflected by it, one sent after it reaches the adopted record.
   */
  constructor(stateDir: string, private readonly onEvent: (event: RuntimeEvent) => void, options: ProcessRuntimeOptions = {}) {
    this.config = processRuntimeConfig(stateDir, options);
    mkdirSync(tasksDirOf(stateDir), { recursive: true, mode: 0o700 });
    this.tasks = loadTasks(stateDir);
    this.poller = setInterval(() => this.poll(), this.config.pollIntervalMs);
    this.poller.unref();
  }

  /** Performs an action; resolves once its outcome event was emitted. Rejects only once closed. */
  act(action: RuntimeAction): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the process runtime is closed'));
    this.actionsInFlight++;
    this.poller.ref();
    let next: Promise<void>;
    if (action.type === 'probe') next = this.perform(action);
    else {
      const previous = this.lanes.get(action.taskId) ?? Promise.resolve();
      // perform() never rejects unless the event sink threw; the lane goes on either way.
      const lane = previous.catch(() => {}).then(() => this.perform(action));
      this.lanes.set(action.taskId, lane);
      next = lane;
    }
    const release = (): void => {
      if (this.lanes.get(action.taskId) === next) this.lanes.delete(action.taskId);
      // The processes are unreferenced, so an action waiting for one keeps the event loop alive.
      if (--this.actionsInFlight === 0) this.poller.unref();
    };
    next.then(release, release);
    return next;
  }

  /** What the runtime holds, sorted by task id: for the agent's adopt() after a restart. */
  list(): ContainerStatus[] {
    return [...this.tasks.values()].sort(byTaskId).map(({ taskId, record }) => ({
      taskId,
      // A spawn in progress may already run: counted as running, so it is never started twice.
      state: record.state === 'starting' ? 'running' : record.state,
      exitCode: record.state === 'exited' ? record.exitCode : null,
    }));
  }

  /** Where a task's output goes (the files outlive the task's removal for a while). */
  logFiles(taskId: TaskId): { readonly stdout: string; readonly stderr: string } {
    const paths = taskPaths(this.config.stateDir, taskId);
    return { stdout: paths.stdout, stderr: paths.stderr };
  }

  /** The process group of a task's running process (the shim's pid), or null. */
  processGroupOf(taskId: TaskId): number | null {
    const run = this.tasks.get(taskId)?.run ?? null;
    return run === null || run.end !== null ? null : run.identity.pid;
  }

  /**
   * Stops watching: after this no event is emitted, no record written and no process signalled
   * (another runtime may adopt them on the same directory). The processes keep running (they are
   * meant to outlive the daemon); actions still in flight never complete.
   */
  close(): void {
    this.closed = true;
    clearInterval(this.poller);
    for (const task of this.tasks.values()) {
      if (task.run?.graceTimer) clearTimeout(task.run.graceTimer);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Actions: each handler returns its one outcome; perform() emits it.

  private async perform(action: RuntimeAction): Promise<void> {
    let outcome: RuntimeEvent;
    try {
      outcome = await this.handle(action);
    } catch (error) {
      outcome = failureOutcome(action, messageOf(error));
    }
    this.emit(outcome);
    if (outcome.type === 'started' && outcome.ok) await this.announced(action.taskId);
  }

  private handle(action: RuntimeAction): Promise<RuntimeEvent> {
    switch (action.type) {
      case 'pull': return this.pull(action.taskId, action.image);
      case 'create': return this.create(action.taskId, action.spec);
      case 'start': return this.start(action.taskId);
      case 'stop': return this.stop(action.taskId, action.graceMs);
      case 'remove': return this.remove(action.taskId);
      case 'probe': return this.probe(action.taskId, action.check);
    }
  }

  private async pull(taskId: TaskId, image: string): Promise<RuntimeEvent> {
    const checked = await checkImage(image, this.config.searchPath);
    return { type: 'pulled', taskId, ok: checked.ok, error: checked.ok ? null : checked.error };
  }

  private async create(taskId: TaskId, spec: ContainerSpec): Promise<RuntimeEvent> {
    const error = await this.createTask(taskId, spec);
    return { type: 'created', taskId, ok: error === null, error };
  }

  private async createTask(taskId: TaskId, spec: ContainerSpec): Promise<string | null> {
    if (!isSafeName(taskId)) return `task id "${taskId}" cannot name a directory: letters, digits, '.', '_' or '-' only`;
    const existing = this.tasks.get(taskId);
    if (existing !== undefined) return `a container for task ${taskId} already exists (${existing.record.state}); remove it first`;
    if (this.tasks.size >= this.config.maxTasks) return `too many containers (${this.config.maxTasks})`;
    const searchPath = spec.env.PATH ?? this.config.searchPath;
    const command = await commandLineOf(spec, searchPath);
    if (!command.ok) return command.error;
    const paths = taskPaths(this.config.stateDir, taskId);
    const { readSecret, volumePath } = this.config;
    let task: RuntimeTask | null = null;
    try {
      const env = await prepareTask(spec, { taskId, paths, searchPath: this.config.searchPath, readSecret, volumePath });
      const record: TaskRecordFile = {
        format: 1, taskId, spec, executable: command.value.executable, argv: command.value.argv, env,
        state: 'created', pid: null, startTicks: null, bootId: null, startedAtMs: null, exitCode: null, oomKilled: false,
      };
      task = { taskId, paths, record, run: null, writes: Promise.resolve() };
      this.tasks.set(taskId, task);
      await this.persist(task);
      return null;
    } catch (error) {
      if (task !== null) {
        this.tasks.delete(taskId);
        await this.unpersist(task).catch(() => {});
      }
      await unprepareTask(paths).catch(() => {});
      return messageOf(error);
    }
  }

  private async start(taskId: TaskId): Promise<RuntimeEvent> {
    const task = this.tasks.get(taskId);
    const fail = (error: string): RuntimeEvent => ({ type: 'started', taskId, ok: false, error });
    if (task === undefined) return fail('no such container');
    const { record, paths } = task;
    if (record.state !== 'created') return fail(`container is ${record.state}, not created`);
    // Durable before the spawn: a daemon that dies next finds the shim by its command line.
    record.state = 'starting';
    try {
      await this.persist(task);
    } catch (error) {
      record.state = 'created';
      return fail(`recording the start: ${messageOf(error)}`);
    }
    let child;
    try {
      child = await launchShim({
        shellPath: this.config.shellPath, exitStatusPath: paths.exitStatus, executable: record.executable, argv: record.argv,
        cwd: paths.work, env: record.env, stdoutPath: paths.stdout, stderrPath: paths.stderr,
      });
    } catch (error) {
      record.state = 'exited';
      record.exitCode = 126; // the shell's "cannot execute"
      await this.persist(task).catch(() => {});
      return fail(`cannot start the process: ${messageOf(error)}`);
    }
    const run = newRun(child, identify(child.pid!), false);
    task.run = run;
    child.once('exit', (code, signal) => this.ended(task, run, exitCodeOf(code, signal)));
    record.state = 'running';
    record.pid = run.identity.pid;
    record.startTicks = run.identity.startTicks;
    record.bootId = run.identity.bootId;
    record.startedAtMs = Date.now();
    await untilProgramRuns(run); // from here on, ended() may have marked the record exited
    // Best effort: if this write is lost, the 'starting' record still leads a restarted daemon to the shim.
    await this.persist(task).catch(() => {});
    return { type: 'started', taskId, ok: true, error: null };
  }

  /** After `started` went out: an end that came first can be delivered now. */
  private async announced(taskId: TaskId): Promise<void> {
    const task = this.tasks.get(taskId);
    const run = task?.run;
    if (task === undefined || run === null || run === undefined || run.announced) return;
    run.announced = true;
    if (run.end !== null) await this.deliver(task, run);
  }

  private async stop(taskId: TaskId, graceMs: number): Promise<RuntimeEvent> {
    const task = this.tasks.get(taskId);
    const run = task?.run ?? null;
    if (task === undefined || run === null || run.delivered) {
      // Nothing runs: done at once, with the last exit code (as the simulated runtime does).
      return { type: 'exited', taskId, exitCode: task?.record.exitCode ?? 0, oomKilled: task?.record.oomKilled ?? false };
    }
    run.owner = 'stop';
    if (run.end === null) {
      this.signal(run, 'SIGTERM');
      run.graceTimer = setTimeout(() => {
        run.graceTimer = null;
        if (run.end !== null) return;
        run.killedBy = 'grace';
        this.signal(run, 'SIGKILL');
      }, Math.max(0, graceMs));
    }
    const end = await run.done;
    return { type: 'exited', taskId, exitCode: end.exitCode, oomKilled: end.oomKilled };
  }

  private async remove(taskId: TaskId): Promise<RuntimeEvent> {
    const task = this.tasks.get(taskId);
    if (task !== undefined) {
      const run = task.run;
      if (run !== null && !run.delivered) {
        run.owner = 'remove';
        if (run.end === null) {
          run.killedBy = 'remove';
          this.signal(run, 'SIGKILL');
        }
        await run.done;
      }
      this.tasks.delete(taskId);
      await this.unpersist(task);
    }
    if (isSafeName(taskId)) await unprepareTask(taskPaths(this.config.stateDir, taskId));
    // Ids with an action in progress keep their directory, except the one being removed now.
    pruneRemovedLogs(this.config.stateDir, this.config.maxRetainedLogs, (id) => this.tasks.has(id) || (id !== taskId && this.lanes.has(id)));
    return { type: 'removed', taskId };
  }

  private async probe(taskId: TaskId, check: HealthCheck): Promise<RuntimeEvent> {
    const task = this.tasks.get(taskId);
    if (task === undefined || task.run === null || task.run.end !== null) {
      return { type: 'probed', taskId, healthy: false, message: task === undefined ? 'no such container' : `container is ${task.record.state}` };
    }
    const result = await runProbe(check, { host: this.config.probeHost, cwd: task.paths.work, env: task.record.env });
    return { type: 'probed', taskId, healthy: result.healthy, message: result.message };
  }

  // ---------------------------------------------------------------------------------------------
  // Ends of runs, watching, signalling.

  /** The run's process ended (seen by its exit event, or by polling an adopted one). */
  private ended(task: RuntimeTask, run: Run, exitCode: number): void {
    if (run.end !== null || this.closed) return;
    if (run.graceTimer !== null) clearTimeout(run.graceTimer);
    run.graceTimer = null;
    run.end = { exitCode, oomKilled: run.killedBy === 'memory' };
    // Our own child just ended: whatever the program left behind in its group goes with it.
    if (run.child !== null) signalGroup(run.identity.pid, 'SIGKILL');
    task.record.state = 'exited';
    task.record.exitCode = exitCode;
    task.record.oomKilled = run.end.oomKilled;
    if (run.announced) void this.deliver(task, run);
  }

  private async deliver(task: RuntimeTask, run: Run): Promise<void> {
    await this.persist(task).catch(() => {}); // a lost write is repaired on load from the exit-status file
    if (run.delivered || run.end === null) return;
    run.delivered = true;
    run.resolveDone(run.end);
    if (run.owner === null) this.emit({ type: 'exited', taskId: task.taskId, exitCode: run.end.exitCode, oomKilled: run.end.oomKilled });
  }

  /** Signals the run's process group, unless its leader is known to be gone (its pid may be reused). */
  private signal(run: Run, signal: NodeJS.Signals): void {
    if (run.end !== null || this.closed) return;
    if (run.child === null && !isAlive(run.identity)) return;
    signalGroup(run.identity.pid, signal);
  }

  private poll(): void {
    const limited = new Map<number, { task: RuntimeTask; run: Run }>();
    for (const task of this.tasks.values()) {
      const run = task.run;
      if (run === null || run.end !== null) continue;
      if (run.child === null && !isAlive(run.identity)) {
        this.ended(task, run, readExitStatusSync(task.paths.exitStatus) ?? exitCodeKilled);
        continue;
      }
      if (task.record.spec.limits.memoryBytes > 0) limited.set(run.identity.pid, { task, run });
    }
    if (limited.size === 0) return;
    const usage = residentBytesByGroup(new Set(limited.keys()));
    for (const [group, { task, run }] of limited) {
      if ((usage.get(group) ?? 0) <= task.record.spec.limits.memoryBytes || run.killedBy !== null) continue;
      run.killedBy = 'memory';
      this.signal(run, 'SIGKILL');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Records and logs on disk.

  private persist(task: RuntimeTask): Promise<void> {
    if (this.closed) return Promise.resolve(); // the directory may belong to a new runtime now
    const write = task.writes.catch(() => {}).then(() => writeRecord(task.paths.record, task.record));
    task.writes = write;
    return write;
  }

  private unpersist(task: RuntimeTask): Promise<void> {
    const unlink = task.writes.catch(() => {}).then(() => deleteRecord(task.paths.record));
    task.writes = unlink;
    return unlink;
  }

  private emit(event: RuntimeEvent): void {
    if (!this.closed) this.onEvent(event);
  }
}

/** Bounds on waiting for the shim to start the task's program, checked every programCheckMs. */
const programCheckMs = 2;
const maxProgramWaitMs = 1_000;

/**
 * Waits (bounded) until the shim has forked and exec'd the task's program. Until then the shim
 * ignores a SIGTERM and the program, not yet forked, never sees it: a stop in that window would
 * wait out its grace period. `started` goes out after this, and a stop only after `started`.
 */
async function untilProgramRuns(run: Run): Promise<void> {
  for (let waitedMs = 0; waitedMs < maxProgramWaitMs; waitedMs += programCheckMs) {
    if (run.end !== null || hasExecutedChild(run.identity.pid)) return;
    await new Promise((resolve) => setTimeout(resolve, programCheckMs));
  }
}

/** The outcome of an action that failed unexpectedly; every action still gets exactly one. */
function failureOutcome(action: RuntimeAction, error: string): RuntimeEvent {
  const { taskId } = action;
  switch (action.type) {
    case 'pull': return { type: 'pulled', taskId, ok: false, error };
    case 'create': return { type: 'created', taskId, ok: false, error };
    case 'start': return { type: 'started', taskId, ok: false, error };
    case 'stop': return { type: 'exited', taskId, exitCode: exitCodeKilled, oomKilled: false };
    case 'remove': return { type: 'removed', taskId };
    case 'probe': return { type: 'probed', taskId, healthy: false, message: error };
  }
}
