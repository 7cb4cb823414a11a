// A simulated worker machine: the agent (core/agent) composed with a simulated container runtime
// (../runtime.ts) and the worker side of the protocol (./protocol.ts). It performs the agent's
// runtime actions, feeds the runtime's outcomes back, wakes the agent when it asks to be woken, and
// heartbeats the manager it believes leads with the reports the store does not show yet.
// Invariants: a report stays in the outbox until an accepted view of the store shows it (the task
// moved at least that far, or the node no longer holds the task), so a lost heartbeat loses no
// report; the outbox holds at most one report per task and at most maxOutboxReports; a view is
// accepted only if it is newer than every view accepted in this incarnation (a later term, or a
// later heartbeat in the same term), so duplicated or reordered answers never take the agent back;
// outcomes of actions asked by an earlier agent process never reach a later one.

import { Agent, type AgentOptions, type TaskReport } from '../../core/agent/index.ts';
import type { RuntimeAction, RuntimeEvent } from '../../core/ports.ts';
import { reportOutcome } from '../../core/state/index.ts';
import type { NodeId, Task, TaskId } from '../../core/state/types.ts';
import type { Rng } from '../rng.ts';
import { SimRuntime, type RuntimeConfig, type RuntimeTicket } from '../runtime.ts';
import type { ManagerMessage, WorkerHeartbeat, WorkerRegistration } from '../../core/manager/worker-protocol.ts';

export interface WorkerConfig {
  readonly heartbeatEveryUs: number;
  /** No view accepted for longer than this: the agent is told it is cut off. */
  readonly disconnectAfterUs: number;
  readonly maxOutboxReports: number;
  readonly maxReportsPerHeartbeat: number;
  /**
   * When a restarted agent adopts what the runtime holds: at once ('restart'), or together with the
   * first view it accepts ('first-view'). The agent drops runtime events for containers it has
   * adopted but not yet matched with assignments (Agent.onRuntimeEvent finds no record), so an exit
   * in between is lost and the agent believes the container runs for ever; adopting with the first
   * view leaves no such window.
   */
  readonly adoptOn: 'restart' | 'first-view';
  /** Agent settings beyond its node id and generator. */
  readonly agent: Omit<Partial<AgentOptions>, 'nodeId' | 'random' | 'restarted' | 'connected'>;
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

export interface WorkerCounts {
  heartbeats: number;
  viewsAccepted: number;
  viewsStale: number;
  redirects: number;
  managerSwitches: number;
  outboxDropped: number;
  disconnects: number;
}

/** Bound on images remembered per machine: one per container the runtime can hold. */
const maxImagesTracked = 10_000;
/** Never wake the agent sooner than this after now (a wake at or before now would spin). */
const minWakeAfterUs = 1_000;

export class SimWorker {
  readonly runtime: SimRuntime;
  readonly counts: WorkerCounts = { heartbeats: 0, viewsAccepted: 0, viewsStale: 0, redirects: 0, managerSwitches: 0, outboxDropped: 0, disconnects: 0 };
  /** The machine (and so the runtime) is up. */
  up = true;
  /** The agent process is up; false after an agent-only crash until the restart. */
  agentUp = true;
  paused = false;
  /** Bumped at every crash (machine or agent), so events of an earlier life are ignored. */
  epoch = 0;
  agent: Agent;
  wakeAtUs = Infinity;
  private agentLife = 0;
  private managerGuess: number;
  private seq = 0;
  /** The highest heartbeat number answered (by a view or a redirect). */
  private answeredSeq = 0;
  /** Mirrors what the agent was last told, so no status() call is needed. */
  private connected = true;
  private lastViewUs = 0;
  private viewTerm = -1;
  private viewSeq = -1;
  /** Redirects followed at once since the last heartbeat timer. */
  private resendsLeft = 1;
  /** A restarted agent that has not adopted the runtime's containers yet. */
  private adoptPending = false;
  private readonly outbox = new Map<TaskId, TaskReport>();
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
    this.managerGuess = rng.int(0, managers - 1);
    this.runtime = new SimRuntime(rng.child('runtime'), runtimeConfig, (atUs, event, ticket) => {
      const kind = ticket.generation === null ? 'outcome' : (this.images.get(event.taskId) ?? '').endsWith(':broken') ? 'exit' : 'crash';
      env.scheduleRuntime(this, atUs, event, ticket, { agentLife: this.agentLife, kind });
    });
    this.agent = this.newAgent(false);
  }

  private newAgent(restarted: boolean): Agent {
    this.agentLife++;
    const random = this.rng.child(`agent/life-${this.agentLife}`);
    return new Agent({ ...this.config.agent, nodeId: this.id, random: () => random.float(), restarted, connected: !restarted });
  }

  /** Heartbeat time: switch managers if the last heartbeat went unanswered, then send. */
  heartbeat(): void {
    const now = this.env.nowUs();
    if (this.answeredSeq < this.seq) this.switchManager();
    this.resendsLeft = 1;
    if (now - this.lastViewUs > this.config.disconnectAfterUs && this.connected) {
      this.counts.disconnects++;
      this.setConnected(false, now);
      this.flush();
    }
    this.send(now);
  }

  private send(now: number): void {
    const reports: TaskReport[] = [];
    for (const report of this.outbox.values()) {
      if (reports.length >= this.config.maxReportsPerHeartbeat) break;
      reports.push(report);
    }
    this.seq++;
    this.counts.heartbeats++;
    this.env.send(this, this.managerGuess, { type: 'worker-heartbeat', node: this.id, incarnation: this.epoch, seq: this.seq, reports, registration: this.registration });
  }

  private switchManager(): void {
    this.managerGuess = (this.managerGuess + 1) % this.managers;
    this.counts.managerSwitches++;
  }

  receive(message: ManagerMessage, managerIndexOf: (id: NodeId) => number): void {
    if (message.incarnation !== this.epoch || !this.agentUp) return;
    const now = this.env.nowUs();
    this.answeredSeq = Math.max(this.answeredSeq, message.seq);
    if (message.type === 'redirect') {
      this.counts.redirects++;
      const latest = message.seq === this.seq;
      if (message.leader === null) {
        if (latest) this.switchManager();
        return;
      }
      this.managerGuess = managerIndexOf(message.leader);
      // A leader naming itself is not ready yet: ask it again next time. Otherwise follow the
      // redirect at once, once per heartbeat period.
      if (message.leader !== message.from && latest && this.resendsLeft > 0) {
        this.resendsLeft--;
        this.send(now);
      }
      return;
    }
    if (message.term < this.viewTerm || (message.term === this.viewTerm && message.seq <= this.viewSeq)) {
      this.counts.viewsStale++;
      return;
    }
    this.viewTerm = message.term;
    this.viewSeq = message.seq;
    this.lastViewUs = now;
    this.managerGuess = managerIndexOf(message.leader);
    this.counts.viewsAccepted++;
    if (this.adoptPending) {
      this.adoptPending = false;
      this.agent.adopt(this.runtime.list(), now);
    }
    if (!this.connected) this.setConnected(true, now);
    this.agent.setAssignments(message.assignments, now);
    this.pruneOutbox(message.assignments.map((a) => a.task));
    this.flush();
  }

  private setConnected(connected: boolean, now: number): void {
    this.connected = connected;
    this.agent.setConnected(connected, now);
  }

  /** Reports the store now shows (or can no longer use) leave the outbox. */
  private pruneOutbox(tasks: readonly Task[]): void {
    if (this.outbox.size === 0) return;
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const [taskId, report] of [...this.outbox.entries()]) {
      const task = byId.get(taskId);
      if (task === undefined || reportOutcome(task, report.state) !== 'advance') this.outbox.delete(taskId);
    }
  }

  /** A runtime outcome reached the agent (the runtime already accepted it). */
  onRuntimeEvent(event: RuntimeEvent, origin: RuntimeOrigin): void {
    if (!this.agentUp) return;
    // The outcome of an action goes only to the process that asked; an exit nobody asked for (a
    // crash, an image that exits) is heard by whichever process runs.
    if (origin.kind === 'outcome' && origin.agentLife !== this.agentLife) return;
    this.agent.onRuntimeEvent(event, this.env.nowUs());
    this.flush();
  }

  wake(atUs: number): void {
    if (atUs !== this.wakeAtUs || !this.agentUp) return;
    this.wakeAtUs = Infinity;
    this.agent.tick(this.env.nowUs());
    this.flush();
  }

  /** Perform the agent's actions, move its reports to the outbox, ask for the next wake-up. */
  flush(): void {
    const now = this.env.nowUs();
    for (const action of this.agent.takeActions()) this.perform(action, now);
    for (const report of this.agent.takeReports()) this.enqueue(report);
    const next = this.agent.nextWakeUs();
    if (next === Infinity || next >= this.wakeAtUs) return;
    this.wakeAtUs = Math.max(next, now + minWakeAfterUs);
    this.env.scheduleWake(this, this.wakeAtUs);
  }

  private perform(action: RuntimeAction, now: number): void {
    if (action.type === 'create') {
      if (this.images.size >= maxImagesTracked) this.images.delete(this.images.keys().next().value!);
      this.images.set(action.taskId, action.spec.image);
    } else if (action.type === 'remove') this.images.delete(action.taskId);
    this.runtime.perform(action, now);
  }

  private enqueue(report: TaskReport): void {
    this.outbox.delete(report.taskId); // keep the latest, in the order of the latest news
    this.outbox.set(report.taskId, report);
    if (this.outbox.size > this.config.maxOutboxReports) {
      this.outbox.delete(this.outbox.keys().next().value!);
      this.counts.outboxDropped++;
    }
  }

  /** The machine dies: its containers with it, and the agent. */
  crashMachine(): void {
    this.up = false;
    this.agentUp = false;
    this.paused = false;
    this.epoch++;
    this.runtime.machineCrash();
    this.images.clear();
    this.forgetVolatile();
  }

  /** Only the agent process dies (kill -9): the runtime and its containers keep running. */
  crashAgent(): void {
    this.agentUp = false;
    this.paused = false;
    this.epoch++;
    this.forgetVolatile();
  }

  private forgetVolatile(): void {
    this.outbox.clear();
    this.wakeAtUs = Infinity;
    this.viewTerm = -1;
    this.viewSeq = -1;
  }

  /** Start the agent again; it adopts what the runtime holds (nothing after a machine crash). */
  restart(): void {
    const now = this.env.nowUs();
    this.up = true;
    this.agentUp = true;
    this.paused = false;
    this.agent = this.newAgent(true);
    this.connected = false;
    this.seq = 0;
    this.answeredSeq = 0;
    this.lastViewUs = now;
    this.adoptPending = this.config.adoptOn === 'first-view';
    if (!this.adoptPending) this.agent.adopt(this.runtime.list(), now);
    this.flush();
  }

  outboxSize(): number {
    return this.outbox.size;
  }
}
