// Graceful shutdown of the daemon (issue 4: "SIGTERM: stop taking requests, hand leadership over if
// leader, flush, exit 0"). On SIGTERM or SIGINT, or when the daemon asks (a fatal storage error), the
// registered steps run one at a time in registration order, each within its own timeout and all
// within an overall deadline; then a synchronous last act (flush the logs) and exit.
// Invariants:
//   - one shutdown per process: later signals or calls get the same result; a second signal while
//     it runs exits at once with code 1 (an operator insisting);
//   - a step that fails or times out does not stop the later ones (storage is still closed when the
//     leadership hand-over failed); its signal is aborted so it can give up its work;
//   - once the deadline has passed, the remaining steps are skipped, never started;
//   - the exit code is 0 only when every step succeeded and the shutdown was not itself a failure.
// The exit function and the signal source are injected so tests run it inside the test process.

import { performance } from 'node:perf_hooks';

export interface ShutdownStep {
  readonly name: string;
  /** signal is aborted when the step's time is up (its timeout or the overall deadline). */
  run(signal: AbortSignal): Promise<void> | void;
  /** Default: the coordinator's stepTimeoutMs. */
  readonly timeoutMs?: number;
}

export type StepStatus = 'ok' | 'failed' | 'timed-out' | 'skipped';

export interface StepOutcome {
  readonly name: string;
  readonly status: StepStatus;
  readonly durationMs: number;
  readonly error?: string;
}

export interface ShutdownResult {
  readonly reason: string;
  readonly exitCode: 0 | 1;
  readonly steps: readonly StepOutcome[];
  readonly durationMs: number;
}

/** Where signals come from; `process` fits as is. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/** A pino logger fits as is. */
export interface ShutdownLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface ShutdownOptions {
  /** Bound on the whole shutdown. Default 30 s (below the usual 30 s+ grace of service managers). */
  readonly deadlineMs?: number;
  /** Bound on one step that names none. Default 10 s. */
  readonly stepTimeoutMs?: number;
  /** Default process.exit. */
  readonly exit?: (code: number) => void;
  readonly logger?: ShutdownLogger;
  /** Runs synchronously just before exit, whatever happened (flushing the logs). Errors are ignored. */
  readonly beforeExit?: (result: ShutdownResult) => void;
}

export const defaultShutdownSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

export class ShutdownCoordinator {
  private readonly steps: ShutdownStep[] = [];
  private running: Promise<ShutdownResult> | null = null;
  private exited = false;
  private readonly deadlineMs: number;
  private readonly stepTimeoutMs: number;
  private readonly exit: (code: number) => void;

  constructor(private readonly options: ShutdownOptions = {}) {
    this.deadlineMs = positive(options.deadlineMs ?? 30_000, 'deadlineMs');
    this.stepTimeoutMs = positive(options.stepTimeoutMs ?? 10_000, 'stepTimeoutMs');
    this.exit = options.exit ?? ((code) => process.exit(code));
  }

  /** Adds a step after those already registered. Refused once the shutdown has begun. */
  register(step: ShutdownStep): this {
    if (this.running !== null) throw new Error(`shutdown step ${step.name} registered after the shutdown began`);
    if (step.timeoutMs !== undefined) positive(step.timeoutMs, `timeoutMs of step ${step.name}`);
    this.steps.push(step);
    return this;
  }

  get started(): boolean {
    return this.running !== null;
  }

  /** Shuts down on each of the signals; returns a function that stops listening. */
  listen(source: SignalSource = process, signals: readonly NodeJS.Signals[] = defaultShutdownSignals): () => void {
    const listeners = signals.map((signal) => {
      const listener = (): void => this.onSignal(signal);
      source.on(signal, listener);
      return { signal, listener };
    });
    return () => {
      for (const { signal, listener } of listeners) source.off(signal, listener);
    };
  }

  /** Runs the steps, then exits. failed: exit 1 even if every step succeeds (a fatal error). */
  shutdown(reason: string, { failed = false }: { failed?: boolean } = {}): Promise<ShutdownResult> {
    this.running ??= this.run(reason, failed);
    return this.running;
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.running === null) {
      void this.shutdown(`signal ${signal}`);
      return;
    }
    this.options.logger?.warn({ signal }, 'second signal during shutdown: exiting now');
    this.finish({ reason: `signal ${signal} during shutdown`, exitCode: 1, steps: [], durationMs: 0 });
  }

  private async run(reason: string, failed: boolean): Promise<ShutdownResult> {
    const startMs = performance.now();
    const deadlineAtMs = startMs + this.deadlineMs;
    this.options.logger?.info({ reason, steps: this.steps.map((step) => step.name), deadlineMs: this.deadlineMs }, 'shutting down');
    const outcomes: StepOutcome[] = [];
    // Set when a step ran out of time that the deadline had cut short: timers may fire a fraction
    // of a millisecond before performance.now() reaches the deadline, so the clock alone is not enough.
    let deadlinePassed = false;
    for (const step of this.steps) {
      const remainingMs = deadlineAtMs - performance.now();
      const stepTimeoutMs = step.timeoutMs ?? this.stepTimeoutMs;
      let outcome: StepOutcome;
      if (deadlinePassed || remainingMs <= 0) {
        outcome = { name: step.name, status: 'skipped', durationMs: 0, error: 'the shutdown deadline had passed' };
      } else {
        outcome = await runStep(step, Math.min(stepTimeoutMs, remainingMs));
        deadlinePassed = outcome.status === 'timed-out' && remainingMs < stepTimeoutMs;
      }
      outcomes.push(outcome);
      this.logOutcome(outcome);
    }
    const stepsOk = outcomes.every((outcome) => outcome.status === 'ok');
    const result: ShutdownResult = { reason, exitCode: stepsOk && !failed ? 0 : 1, steps: outcomes, durationMs: performance.now() - startMs };
    this.options.logger?.[result.exitCode === 0 ? 'info' : 'error']({ reason, exitCode: result.exitCode, durationMs: Math.round(result.durationMs) }, 'shutdown complete');
    this.finish(result);
    return result;
  }

  private logOutcome(outcome: StepOutcome): void {
    const fields = { step: outcome.name, status: outcome.status, durationMs: Math.round(outcome.durationMs), ...(outcome.error ? { error: outcome.error } : {}) };
    if (outcome.status === 'ok') this.options.logger?.info(fields, 'shutdown step done');
    else this.options.logger?.error(fields, 'shutdown step did not complete');
  }

  /** Exits once: after a forced exit, the shutdown still running must not exit again. */
  private finish(result: ShutdownResult): void {
    if (this.exited) return;
    this.exited = true;
    try {
      this.options.beforeExit?.(result);
    } catch {
      // Exiting regardless: a failed flush must not keep the process alive.
    }
    this.exit(result.exitCode);
  }
}

async function runStep(step: ShutdownStep, timeoutMs: number): Promise<StepOutcome> {
  const startMs = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), timeoutMs);
  });
  try {
    const finished = Promise.resolve().then(() => step.run(controller.signal)).then(() => 'ok' as const);
    const status = await Promise.race([finished, timedOut]);
    if (status === 'timed-out') {
      controller.abort(new Error(`shutdown step ${step.name} timed out after ${Math.round(timeoutMs)} ms`));
      finished.catch(() => {}); // it may still fail after being abandoned
      return { name: step.name, status, durationMs: performance.now() - startMs, error: `timed out after ${Math.round(timeoutMs)} ms` };
    }
    return { name: step.name, status, durationMs: performance.now() - startMs };
  } catch (error) {
    return { name: step.name, status: 'failed', durationMs: performance.now() - startMs, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** What a daemon does to stop, in the order issue 4 asks for. */
export interface StandardShutdown {
  /** Stop taking requests: mark /ready draining, close the API listeners, let in-flight ones end. */
  stopAccepting(signal: AbortSignal): Promise<void> | void;
  isLeader(): boolean;
  /** Hand leadership to an up-to-date follower and wait until it has it. */
  transferLeadership(signal: AbortSignal): Promise<void> | void;
  /** Stop the Raft loop and close the WAL (everything acknowledged is already synced). */
  closeStorage(signal: AbortSignal): Promise<void> | void;
  flushLogs(): void;
  readonly timeoutsMs?: Partial<Record<'stopAccepting' | 'transferLeadership' | 'closeStorage', number>>;
}

/** stop-accepting, transfer-leadership (a no-op unless leader), close-storage, flush-logs. */
export function standardSteps(daemon: StandardShutdown): ShutdownStep[] {
  const timeouts = daemon.timeoutsMs ?? {};
  return [
    { name: 'stop-accepting', run: (signal) => daemon.stopAccepting(signal), timeoutMs: timeouts.stopAccepting },
    { name: 'transfer-leadership', run: (signal) => (daemon.isLeader() ? daemon.transferLeadership(signal) : undefined), timeoutMs: timeouts.transferLeadership },
    { name: 'close-storage', run: (signal) => daemon.closeStorage(signal), timeoutMs: timeouts.closeStorage },
    { name: 'flush-logs', run: () => daemon.flushLogs() },
  ];
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${what} must be a positive number of milliseconds, got ${value}`);
  return value;
}
