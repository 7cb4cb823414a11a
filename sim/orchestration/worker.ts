// A simulated worker machine: the worker's session with the managers (core/agent/session.ts: the
// agent, heartbeats, views, the report outbox) composed with a simulated container runtime
// (../runtime.ts). It performs the session's runtime actions, feeds the runtime's outcomes back to
// the agent process that asked for them, wakes the session when it asks, and models crashes: of the
// whole machine (containers die with it) or of the agent process only (the runtime keeps running and
// the restarted agent adopts what it finds).
// Invariants: outcomes of actions asked by an earlier agent process never reach a later one; after a
// crash nothing of the session survives but the manager it was talking to and its counts.

import { newSessionCounts, WorkerSession, type SessionConfig, type SessionCounts } from '../../core/agent/index.ts';
import type { Agent } from '../../core/agent/index.ts';
import type { RuntimeAction, RuntimeEvent } from '../../core/ports.ts';
import type { NodeId, TaskId } from '../../core/state/types.ts';
import type { Rng } from '../rng.ts';
import { SimRuntime, type RuntimeConfig, type RuntimeTicket } from '../runtime.ts';
import type { ManagerMessage, WorkerHeartbeat, WorkerRegistration } from '../../core/manager/worker-protocol.ts';

export interface WorkerConfig extends SessionConfig {
  readonly heartbeatEveryUs: number;
}

export const defaultWorkerConfig: WorkerConfig = {
  heartbeatEveryUs: 500_000,
  disconnectAfterUs: 2_000_000,
  maxOutboxReports: 1024,
  maxReportsPerHeartbeat: 256,
  adoptOn: 'first-view',
  agent: { maxRestartDelayMs: 5_000 },
};

/** Where a runtime outcome comes from, fixed when the runtime scheduled it. */
export interface RuntimeOrigin {
  /** The agent process running when the runtime scheduled it. */
  readonly agentLife: number;
  /**
   * outcome: the answer to an action; crash: an injected fault (void once faults are off); exit:
   * an image that exits by design (`:broken`).
   */
  readonly kind: 'outcome' | 'crash' | 'exit';
}

export interface WorkerEnv {
  nowUs(): number;
  send(worker: SimWorker, manager: number, message: WorkerHeartbeat): void;
  scheduleRuntime(worker: SimWorker, atUs: number, event: RuntimeEvent, ticket: RuntimeTicket, origin: RuntimeOrigin): void;
  scheduleWake(worker: SimWorker, atUs: number): void;
}

export type WorkerCounts = SessionCounts;

/** Bound on images remembered per machine: one per container the runtime can hold. */
const maxImagesTracked = 10_000;

export class SimWorker {
  readonly runtime: SimRuntime;
  readonly counts: WorkerCounts = newSessionCounts();
  /** The machine (and so the runtime) is up. */
  up = true;
  /** The agent process is up; false after an agent-only crash until the restart. */
  agentUp = true;
  paused = false;
  /** Bumped at every crash (machine or agent), so events of an earlier life are ignored. */
  epoch = 0;
  private session: WorkerSession;
  private agentLife = 0;
  private managerIndexOf: (id: NodeId) => number = () => -1;
  /** Image of each container created, to tell an injected crash from an image that exits by design. */
  private readonly images = new Map<TaskId, string>();

  constructor(
    readonly id: NodeId,
    readonly registration: WorkerRegistration,
    private readonly managers: number,
    private readonly rng: Rng,
    runtimeConfig: RuntimeConfig,
    private readonly config: WorkerConfig,
    private readonly env: WorkerEnv,
  ) {
    const managerGuess = rng.int(0, managers - 1);
    this.runtime = new SimRuntime(rng.child('runtime'), runtimeConfig, (atUs, event, ticket) => {
      const kind = ticket.generation === null ? 'outcome' : (this.images.get(event.taskId) ?? '').endsWith(':broken') ? 'exit' : 'crash';
      env.scheduleRuntime(this, atUs, event, ticket, { agentLife: this.agentLife, kind });
    });
    this.session = this.newSession(managerGuess, false);
  }

  private newSession(managerGuess: number, restarted: boolean): WorkerSession {
    this.agentLife++;
    const random = this.rng.child(`agent/life-${this.agentLife}`);
    return new WorkerSession(this.id, this.registration, this.epoch, this.managers, managerGuess, () => random.float(), restarted, this.config, {
      nowUs: () => this.env.nowUs(),
      send: (manager, message) => this.env.send(this, manager, message),
      managerIndex: (id) => this.managerIndexOf(id),
      scheduleWake: (atUs) => this.env.scheduleWake(this, atUs),
      perform: (action) => this.perform(action),
      list: () => this.runtime.list(),
    }, this.counts);
  }

  get agent(): Agent {
    return this.session.agent;
  }

  get wakeAtUs(): number {
    return this.agentUp ? this.session.wakeAtUs : Infinity;
  }

  /** Heartbeat time: switch managers if the last heartbeat went unanswered, then send. */
  heartbeat(): void {
    this.session.heartbeat();
  }

  receive(message: ManagerMessage, managerIndexOf: (id: NodeId) => number): void {
    if (!this.agentUp) return;
    this.managerIndexOf = managerIndexOf;
    this.session.receive(message);
  }

  /** A runtime outcome reached the agent (the runtime already accepted it). */
  onRuntimeEvent(event: RuntimeEvent, origin: RuntimeOrigin): void {
    if (!this.agentUp) return;
    // The outcome of an action goes only to the process that asked; an exit nobody asked for (a
    // crash, an image that exits) is heard by whichever process runs.
    if (origin.kind === 'outcome' && origin.agentLife !== this.agentLife) return;
    this.session.onRuntimeEvent(event);
  }

  wake(atUs: number): void {
    if (!this.agentUp) return;
    this.session.wake(atUs);
  }

  /** Perform the session's pending actions and ask for its next wake-up. */
  flush(): void {
    this.session.flush();
  }

  private perform(action: RuntimeAction): void {
    if (action.type === 'create') {
      if (this.images.size >= maxImagesTracked) this.images.delete(this.images.keys().next().value!);
      this.images.set(action.taskId, action.spec.image);
    } else if (action.type === 'remove') this.images.delete(action.taskId);
    this.runtime.perform(action, this.env.nowUs());
  }

  /** The machine dies: its containers with it, and the agent. */
  crashMachine(): void {
    this.up = false;
    this.agentUp = false;
    this.paused = false;
    this.epoch++;
    this.runtime.machineCrash();
    this.images.clear();
  }

  /** Only the agent process dies (kill -9): the runtime and its containers keep running. */
  crashAgent(): void {
    this.agentUp = false;
    this.paused = false;
    this.epoch++;
  }

  /** Start the agent again; it adopts what the runtime holds (nothing after a machine crash). */
  restart(): void {
    this.up = true;
    this.agentUp = true;
    this.paused = false;
    this.session = this.newSession(this.session.currentManager(), true);
  }

  outboxSize(): number {
    return this.agentUp ? this.session.outboxSize() : 0;
  }
}
