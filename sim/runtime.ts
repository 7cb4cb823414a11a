// A simulated container runtime for one worker: pulls, creates, starts, stops and removes
// containers with latencies drawn from a seeded generator, and injects the faults real runtimes
// have: image pull failures, slow starts, crashes with exit codes, OOM kills, flapping health.
// Image tags steer behaviour so workloads can ask for trouble on purpose: `:broken` exits with
// code 1 shortly after starting, `:unhealthy` fails every probe, `:missing` cannot be pulled.
// Invariant: every action gets exactly one outcome event, unless the machine crashes first.

import type { ContainerStatus, RuntimeAction, RuntimeEvent } from '../core/ports.ts';
import type { TaskId } from '../core/state/types.ts';
import type { Rng } from './rng.ts';

export interface RuntimeConfig {
  readonly pullLatencyMeanUs: number;
  readonly startLatencyMeanUs: number;
  readonly pullFailureRate: number;
  readonly startFailureRate: number;
  /** Mean time a running container runs before it crashes on its own; 0 = never. */
  readonly crashMeanUs: number;
  /** Fraction of crashes that are OOM kills (exit 137). */
  readonly oomFraction: number;
  /** Probability that a probe of a healthy container reports unhealthy anyway. */
  readonly flappingHealthRate: number;
}

export const calmRuntime: RuntimeConfig = {
  pullLatencyMeanUs: 50_000,
  startLatencyMeanUs: 20_000,
  pullFailureRate: 0,
  startFailureRate: 0,
  crashMeanUs: 0,
  oomFraction: 0,
  flappingHealthRate: 0,
};

export interface RuntimeFaultCounts {
  pullFailure: number;
  startFailure: number;
  crash: number;
  oomKill: number;
  flappingHealth: number;
}

/** Travels with every scheduled outcome; `accept` checks it when the outcome is due. */
export interface RuntimeTicket {
  readonly epoch: number;
  /** Set for a crash the runtime scheduled itself: void unless the container is in the same run. */
  readonly generation: number | null;
}

interface Container {
  state: 'created' | 'running' | 'exited';
  readonly image: string;
  exitCode: number | null;
  /** Bumped whenever the container starts or stops, so a scheduled crash of an older run is void. */
  generation: number;
}

/** Bound on containers one simulated machine holds. */
const maxContainers = 10_000;
const brokenExitAfterUs = 200_000;

export class SimRuntime {
  private readonly containers = new Map<TaskId, Container>();
  private readonly pulled = new Set<string>();
  readonly fired: RuntimeFaultCounts = { pullFailure: 0, startFailure: 0, crash: 0, oomKill: 0, flappingHealth: 0 };
  /** Bumped by machineCrash so outcomes scheduled before it are dropped. */
  epoch = 0;

  constructor(
    private readonly rng: Rng,
    private config: RuntimeConfig,
    /** Deliver an event at a future time; the caller passes it through `accept` when it fires. */
    private readonly schedule: (atUs: number, event: RuntimeEvent, ticket: RuntimeTicket) => void,
  ) {}

  private emit(atUs: number, event: RuntimeEvent): void {
    this.schedule(atUs, event, { epoch: this.epoch, generation: null });
  }

  /** Whether a due outcome still stands (no machine crash since; a self-crash still in its run). */
  accept(event: RuntimeEvent, ticket: RuntimeTicket): boolean {
    if (ticket.epoch !== this.epoch) return false;
    if (ticket.generation === null || event.type !== 'exited') return true;
    const c = this.containers.get(event.taskId);
    if (!c || c.state !== 'running' || c.generation !== ticket.generation) return false;
    c.state = 'exited';
    c.exitCode = event.exitCode;
    c.generation++;
    if (event.oomKilled) this.fired.oomKill++;
    else if (!c.image.endsWith(':broken')) this.fired.crash++;
    return true;
  }

  setConfig(config: RuntimeConfig): void {
    this.config = config;
  }

  perform(action: RuntimeAction, nowUs: number): void {
    switch (action.type) {
      case 'pull':
        return this.pull(action.taskId, action.image, nowUs);
      case 'create':
        return this.create(action.taskId, action.spec.image, nowUs);
      case 'start':
        return this.start(action.taskId, nowUs);
      case 'stop':
        return this.stop(action.taskId, action.graceMs, nowUs);
      case 'remove':
        this.containers.delete(action.taskId);
        this.emit(nowUs + 1_000, { type: 'removed', taskId: action.taskId });
        return;
      case 'probe':
        return this.probe(action.taskId, nowUs);
    }
  }

  private latency(meanUs: number): number {
    return 1_000 + Math.floor(this.rng.exponential(meanUs));
  }

  private pull(taskId: TaskId, image: string, nowUs: number): void {
    const at = nowUs + (this.pulled.has(image) ? 1_000 : this.latency(this.config.pullLatencyMeanUs));
    if (image.endsWith(':missing')) {
      this.emit(at, { type: 'pulled', taskId, ok: false, error: `image ${image} not found in registry` });
      return;
    }
    if (!this.pulled.has(image) && this.rng.chance(this.config.pullFailureRate)) {
      this.fired.pullFailure++;
      this.emit(at, { type: 'pulled', taskId, ok: false, error: `pulling ${image}: connection reset by registry` });
      return;
    }
    this.pulled.add(image);
    this.emit(at, { type: 'pulled', taskId, ok: true, error: null });
  }

  private create(taskId: TaskId, image: string, nowUs: number): void {
    if (!this.pulled.has(image)) {
      this.emit(nowUs + 1_000, { type: 'created', taskId, ok: false, error: `image ${image} is not present; pull it first` });
      return;
    }
    if (this.containers.size >= maxContainers && !this.containers.has(taskId)) {
      this.emit(nowUs + 1_000, { type: 'created', taskId, ok: false, error: `too many containers (${maxContainers})` });
      return;
    }
    this.containers.set(taskId, { state: 'created', image, exitCode: null, generation: 0 });
    this.emit(nowUs + 2_000, { type: 'created', taskId, ok: true, error: null });
  }

  private start(taskId: TaskId, nowUs: number): void {
    const c = this.containers.get(taskId);
    const at = nowUs + this.latency(this.config.startLatencyMeanUs);
    if (!c || c.state !== 'created') {
      this.emit(at, { type: 'started', taskId, ok: false, error: c ? `container is ${c.state}, not created` : 'no such container' });
      return;
    }
    if (this.rng.chance(this.config.startFailureRate)) {
      this.fired.startFailure++;
      c.state = 'exited';
      c.exitCode = 126;
      this.emit(at, { type: 'started', taskId, ok: false, error: 'OCI runtime create failed: cannot start container process' });
      return;
    }
    c.state = 'running';
    c.generation++;
    this.emit(at, { type: 'started', taskId, ok: true, error: null });
    this.scheduleCrash(taskId, c, at);
  }

  private scheduleCrash(taskId: TaskId, c: Container, startedAtUs: number): void {
    const generation = c.generation;
    let exitAt = -1;
    let exitCode = 1;
    let oom = false;
    if (c.image.endsWith(':broken')) exitAt = startedAtUs + brokenExitAfterUs;
    else if (this.config.crashMeanUs > 0) {
      exitAt = startedAtUs + 1_000 + Math.floor(this.rng.exponential(this.config.crashMeanUs));
      oom = this.rng.chance(this.config.oomFraction);
      exitCode = oom ? 137 : this.rng.pick([1, 2, 139]);
    }
    if (exitAt < 0) return;
    this.schedule(exitAt, { type: 'exited', taskId, exitCode, oomKilled: oom }, { epoch: this.epoch, generation });
  }

  private stop(taskId: TaskId, graceMs: number, nowUs: number): void {
    const c = this.containers.get(taskId);
    if (!c || c.state !== 'running') {
      // Stopping what is not running is done at once, and says so with its last exit code.
      this.emit(nowUs + 1_000, { type: 'exited', taskId, exitCode: c?.exitCode ?? 0, oomKilled: false });
      return;
    }
    c.state = 'exited';
    c.generation++;
    // Most processes honour SIGTERM quickly; some need the SIGKILL at the end of the grace period.
    const killed = this.rng.chance(0.1);
    c.exitCode = killed ? 137 : 0;
    const afterUs = killed ? graceMs * 1_000 : this.latency(20_000);
    this.emit(nowUs + afterUs, { type: 'exited', taskId, exitCode: c.exitCode, oomKilled: false });
  }

  private probe(taskId: TaskId, nowUs: number): void {
    const c = this.containers.get(taskId);
    const at = nowUs + this.latency(5_000);
    if (!c || c.state !== 'running') {
      this.emit(at, { type: 'probed', taskId, healthy: false, message: c ? `container is ${c.state}` : 'no such container' });
      return;
    }
    if (c.image.endsWith(':unhealthy')) {
      this.emit(at, { type: 'probed', taskId, healthy: false, message: 'health check failed: HTTP 503' });
      return;
    }
    if (this.rng.chance(this.config.flappingHealthRate)) {
      this.fired.flappingHealth++;
      this.emit(at, { type: 'probed', taskId, healthy: false, message: 'health check timed out' });
      return;
    }
    this.emit(at, { type: 'probed', taskId, healthy: true, message: 'ok' });
  }

  /** The machine went down: every container is gone, every outcome in flight is void. */
  machineCrash(): void {
    this.containers.clear();
    this.epoch++;
  }

  /** Whether the task's container runs now: list() for one task, without copying or sorting. */
  isRunning(taskId: TaskId): boolean {
    return this.containers.get(taskId)?.state === 'running';
  }

  /** What a restarted agent finds (the machine kept running, only the agent restarted). */
  list(): ContainerStatus[] {
    return [...this.containers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([taskId, c]) => ({ taskId, state: c.state, exitCode: c.exitCode }));
  }
}
