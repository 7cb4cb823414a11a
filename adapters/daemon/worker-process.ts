// A worker daemon's moving parts, assembled: the process runtime (adapters/runtime/process), the
// worker's session with the managers (core/agent/session.ts: the agent, heartbeats, views, the report
// outbox) and one gRPC client per manager (adapters/grpc/worker-service.ts). Timers drive it: a
// heartbeat every period, and the wake-ups the agent asks for (restart backoff, probe schedules).
// Invariants: each start of the process is a new incarnation (a counter kept in the state directory,
// bumped before anything is sent), so managers' answers to an earlier life are dropped; a restarted
// worker adopts the tasks the runtime still runs instead of starting them again.
// Secrets: the runtime asks for a task's secret when it creates the task; the worker asks the
// manager it heartbeats to first, then the others in turn, each with a deadline, and the first value
// given wins (any manager serves secrets from its own store, which may lag: a refusal from one does
// not stop the next). Values are written to the task's files only, never logged.

import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { WorkerSession, type SessionConfig } from '../../core/agent/index.ts';
import type { WorkerRegistration } from '../../core/manager/worker-protocol.ts';
import { nodeId, type NodeId } from '../../core/raft/index.ts';
import type { TaskId } from '../../core/state/types.ts';
import { WorkerClient } from '../grpc/worker-service.ts';
import { silentLogger, type TransportLogger } from '../grpc/options.ts';
import { splitAddress } from './address.ts';
import { component, DaemonMetrics, HealthServer, workerReadiness } from '../observability/index.ts';
import { ProcessRuntime } from '../runtime/process/index.ts';

export interface WorkerProcessOptions {
  readonly id: string;
  readonly clusterId: string;
  /** The managers' worker-protocol addresses, by manager id. */
  readonly managers: Readonly<Record<string, string>>;
  readonly stateDir: string;
  readonly registration: WorkerRegistration;
  readonly heartbeatMs: number;
  readonly session: SessionConfig;
  /** host:port of /live /ready /health /metrics; absent for none (tests). */
  readonly metricsListen?: string;
  /** A pino logger fits; default silent. */
  readonly logger?: TransportLogger;
}

export const defaultSessionConfig: SessionConfig = {
  disconnectAfterUs: 5_000_000,
  maxOutboxReports: 1024,
  maxReportsPerHeartbeat: 256,
  adoptOn: 'first-view',
  agent: {},
};

const nowUs = (): number => Date.now() * 1000;

/** Bound on one ReadSecret call to one manager. */
const SECRET_READ_TIMEOUT_MS = 3_000;

/** Bumps and returns the incarnation counter kept in `dir` (written atomically). */
function nextIncarnation(dir: string): number {
  const file = join(dir, 'incarnation');
  let previous = 0;
  try {
    previous = Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    previous = 0;
  }
  const next = previous + 1;
  writeFileSync(`${file}.tmp`, `${next}\n`);
  renameSync(`${file}.tmp`, file);
  return next;
}

export class WorkerProcess {
  readonly runtime: ProcessRuntime;
  readonly session: WorkerSession;
  private readonly clients: WorkerClient[];
  private readonly managerIds: NodeId[];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private health: HealthServer | null = null;
  private readonly metrics: DaemonMetrics;
  private lastAnswerUs = 0;
  private lastAnswerFrom: string | null = null;

  constructor(private readonly options: WorkerProcessOptions) {
    mkdirSync(options.stateDir, { recursive: true });
    const incarnation = nextIncarnation(options.stateDir);
    const logger = options.logger ?? silentLogger;
    const log = (event: string, fields: Record<string, unknown>) => logger.info({ event, ...fields }, event);
    this.metrics = new DaemonMetrics({ nodeId: options.id });
    this.managerIds = Object.keys(options.managers).sort().map((id) => nodeId(id));
    this.clients = this.managerIds.map((id) => new WorkerClient(options.managers[id]!, options.clusterId));
    let session: WorkerSession | null = null;
    this.runtime = new ProcessRuntime(join(options.stateDir, 'runtime'), (event) => {
      if (!this.stopped) session?.onRuntimeEvent(event);
    }, { readSecret: (name, taskId) => this.readSecret(name, taskId, log) });
    const restarted = incarnation > 1;
    session = new WorkerSession(nodeId(options.id), options.registration, incarnation, this.managerIds.length, 0, Math.random, restarted, options.session, {
      nowUs,
      send: (manager, message) => {
        const client = this.clients[manager]!;
        client.heartbeat(message, options.heartbeatMs * 2).then(
          (answer) => {
            if (this.stopped) return;
            this.lastAnswerUs = nowUs();
            this.lastAnswerFrom = this.managerIds[manager] ?? null;
            this.session.receive(answer);
          },
          (error: Error) => log('heartbeat-failed', { manager: this.managerIds[manager], error: error.message }),
        );
      },
      managerIndex: (id) => this.managerIds.indexOf(id),
      scheduleWake: (atUs) => {
        if (this.wakeTimer) clearTimeout(this.wakeTimer);
        this.wakeTimer = setTimeout(() => {
          this.wakeTimer = null;
          if (!this.stopped) this.session.wake(atUs);
        }, Math.max(0, (atUs - nowUs()) / 1000));
      },
      perform: (action) => {
        this.runtime.act(action).catch((error: Error) => log('runtime-action-failed', { action: action.type, task: action.taskId, error: error.message }));
      },
      list: () => this.runtime.list(),
    });
    this.session = session;
    log('started', { incarnation, restarted, adopted: restarted ? this.runtime.list().length : 0 });
  }

  /** Serves the health port (when asked for) and starts heartbeating. */
  async start(): Promise<void> {
    if (this.options.metricsListen !== undefined) {
      const listen = this.options.metricsListen;
      this.health = new HealthServer({
        nodeId: this.options.id,
        host: splitAddress(listen).host,
        metrics: this.metrics,
        ready: () => workerReadiness(this.connected(), this.lastAnswerFrom),
        checks: {
          components: {
            // Unhealthy while no manager answers; the tasks the runtime holds are reported beside it.
            managers: () => component(
              { lastAnswerFrom: this.lastAnswerFrom, managers: this.managerIds, tasks: this.runtime.list().length },
              this.connected() ? [] : [`no answer from any manager for ${((nowUs() - this.lastAnswerUs) / 1e6).toFixed(1)} s`],
            ),
          },
        },
      });
      await this.health.start(splitAddress(listen).port);
    }
    this.session.heartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (!this.stopped) this.session.heartbeat();
    }, this.options.heartbeatMs);
  }

  /**
   * The plaintext of secret `name` for task `taskId`, from the first manager that gives it: the one
   * heartbeats go to, then the others in id order. Rejects with every manager's answer when none does.
   */
  private async readSecret(name: string, taskId: TaskId, log: (event: string, fields: Record<string, unknown>) => void): Promise<Buffer> {
    const first = this.session.currentManager();
    const order = [first, ...this.managerIds.keys()].filter((index, i, all) => all.indexOf(index) === i && this.clients[index] !== undefined);
    const refusals: string[] = [];
    for (const index of order) {
      if (this.stopped) break;
      try {
        return await this.clients[index]!.readSecret({ node: this.options.id, task: taskId, secret: name }, SECRET_READ_TIMEOUT_MS);
      } catch (error) {
        const reason = (error as { details?: string }).details || (error as Error).message;
        refusals.push(`${this.managerIds[index]}: ${reason}`);
        log('secret-read-failed', { manager: this.managerIds[index], task_id: taskId, secret: name, error: reason });
      }
    }
    throw new Error(`no manager gave it (${refusals.length === 0 ? 'the worker is stopping' : refusals.join('; ')})`);
  }

  /** Whether a manager answered within the session's disconnect bound. */
  connected(): boolean {
    return this.lastAnswerUs > 0 && nowUs() - this.lastAnswerUs < this.options.session.disconnectAfterUs;
  }

  /** Stop talking to the managers; the tasks keep running (a restarted worker adopts them). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.health?.close();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const client of this.clients) client.close();
    this.runtime.close();
  }
}
