// A worker's session with the managers, the same in the simulator and in the daemon: the agent
// (./agent.ts) driven by the views the leader sends back, heartbeats to the manager it believes
// leads carrying the reports the store does not show yet, redirects followed, a switch to the next
// manager when a heartbeat goes unanswered, and the agent told when it is cut off. The shell gives
// it a container runtime to perform actions on, a way to send a heartbeat to manager number i, and
// a timer; it calls heartbeat() on its period, receive() with each answer, onRuntimeEvent() with
// each runtime outcome and wake() when the timer fires.
// Invariants: a report stays in the outbox until an accepted view of the store shows it (the task
// moved at least that far, or the node no longer holds the task), so a lost heartbeat loses no
// report; the outbox holds at most one report per task and at most maxOutboxReports; a view is
// accepted only if it is newer than every view accepted in this incarnation (a later term, or a
// later heartbeat in the same term), so duplicated or reordered answers never take the agent back.

import type { ContainerStatus, RuntimeAction, RuntimeEvent } from '../ports.ts';
import type { ManagerMessage, WorkerHeartbeat, WorkerRegistration } from '../manager/worker-protocol.ts';
import { reportOutcome } from '../state/index.ts';
import type { NodeId, Task, TaskId } from '../state/types.ts';
import { Agent } from './agent.ts';
import type { AgentOptions, TaskReport } from './types.ts';

export interface SessionConfig {
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

export interface SessionEnv {
  nowUs(): number;
  /** Send a heartbeat to manager number `manager` (0..managers-1). */
  send(manager: number, message: WorkerHeartbeat): void;
  /** Manager number of a manager id (from a redirect or a view). */
  managerIndex(id: NodeId): number;
  /** Call wake(atUs) at `atUs`; a later request replaces an earlier one only if sooner. */
  scheduleWake(atUs: number): void;
  perform(action: RuntimeAction): void;
  /** What the runtime holds now, for adoption after a restart. */
  list(): readonly ContainerStatus[];
}

export interface SessionCounts {
  heartbeats: number;
  viewsAccepted: number;
  viewsStale: number;
  redirects: number;
  managerSwitches: number;
  outboxDropped: number;
  disconnects: number;
}

export function newSessionCounts(): SessionCounts {
  return { heartbeats: 0, viewsAccepted: 0, viewsStale: 0, redirects: 0, managerSwitches: 0, outboxDropped: 0, disconnects: 0 };
}

/** Never wake the agent sooner than this after now (a wake at or before now would spin). */
const minWakeAfterUs = 1_000;

export class WorkerSession {
  readonly agent: Agent;
  wakeAtUs = Infinity;
  private seq = 0;
  /** The highest heartbeat number answered (by a view or a redirect). */
  private answeredSeq = 0;
  /** Mirrors what the agent was last told, so no status() call is needed. */
  private connected: boolean;
  private lastViewUs: number;
  private viewTerm = -1;
  private viewSeq = -1;
  /** Redirects followed at once since the last heartbeat timer. */
  private resendsLeft = 1;
  /** A restarted agent that has not adopted the runtime's containers yet. */
  private adoptPending = false;
  private readonly outbox = new Map<TaskId, TaskReport>();

  /**
   * One agent process's session. `incarnation` is bumped at every restart of the process, so
   * answers meant for an earlier life are dropped; `restarted` says whether the runtime may hold
   * containers of an earlier life to adopt. `counts` may carry on those of an earlier session.
   */
  constructor(
    readonly id: NodeId,
    private readonly registration: WorkerRegistration,
    readonly incarnation: number,
    private readonly managers: number,
    private managerGuess: number,
    random: () => number,
    restarted: boolean,
    private readonly config: SessionConfig,
    private readonly env: SessionEnv,
    readonly counts: SessionCounts = newSessionCounts(),
  ) {
    this.agent = new Agent({ ...config.agent, nodeId: id, random, restarted, connected: !restarted });
    this.connected = !restarted;
    this.lastViewUs = env.nowUs();
    if (restarted) {
      this.adoptPending = config.adoptOn === 'first-view';
      if (!this.adoptPending) this.agent.adopt(env.list(), env.nowUs());
      this.flush();
    }
  }

  /** The manager number the next heartbeat goes to. */
  currentManager(): number {
    return this.managerGuess;
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
    this.send();
  }

  private send(): void {
    const reports: TaskReport[] = [];
    for (const report of this.outbox.values()) {
      if (reports.length >= this.config.maxReportsPerHeartbeat) break;
      reports.push(report);
    }
    this.seq++;
    this.counts.heartbeats++;
    this.env.send(this.managerGuess, { type: 'worker-heartbeat', node: this.id, incarnation: this.incarnation, seq: this.seq, reports, registration: this.registration });
  }

  private switchManager(): void {
    this.managerGuess = (this.managerGuess + 1) % this.managers;
    this.counts.managerSwitches++;
  }

  /** A manager's answer to one of this session's heartbeats. */
  receive(message: ManagerMessage): void {
    if (message.incarnation !== this.incarnation) return;
    const now = this.env.nowUs();
    this.answeredSeq = Math.max(this.answeredSeq, message.seq);
    if (message.type === 'redirect') {
      this.counts.redirects++;
      const latest = message.seq === this.seq;
      if (message.leader === null) {
        if (latest) this.switchManager();
        return;
      }
      this.managerGuess = this.env.managerIndex(message.leader);
      // A leader naming itself is not ready yet: ask it again next time. Otherwise follow the
      // redirect at once, once per heartbeat period.
      if (message.leader !== message.from && latest && this.resendsLeft > 0) {
        this.resendsLeft--;
        this.send();
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
    this.managerGuess = this.env.managerIndex(message.leader);
    this.counts.viewsAccepted++;
    if (this.adoptPending) {
      this.adoptPending = false;
      this.agent.adopt(this.env.list(), now);
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

  /** A runtime outcome (an answer to one of this process's actions, or an exit nobody asked for). */
  onRuntimeEvent(event: RuntimeEvent): void {
    this.agent.onRuntimeEvent(event, this.env.nowUs());
    this.flush();
  }

  /** The timer asked for at `atUs` fired; stale timers are ignored. */
  wake(atUs: number): void {
    if (atUs !== this.wakeAtUs) return;
    this.wakeAtUs = Infinity;
    this.agent.tick(this.env.nowUs());
    this.flush();
  }

  /** Perform the agent's actions, move its reports to the outbox, ask for the next wake-up. */
  flush(): void {
    const now = this.env.nowUs();
    for (const action of this.agent.takeActions()) this.env.perform(action);
    for (const report of this.agent.takeReports()) this.enqueue(report);
    const next = this.agent.nextWakeUs();
    if (next === Infinity || next >= this.wakeAtUs) return;
    this.wakeAtUs = Math.max(next, now + minWakeAfterUs);
    this.env.scheduleWake(this.wakeAtUs);
  }

  private enqueue(report: TaskReport): void {
    this.outbox.delete(report.taskId); // keep the latest, in the order of the latest news
    this.outbox.set(report.taskId, report);
    if (this.outbox.size > this.config.maxOutboxReports) {
      this.outbox.delete(this.outbox.keys().next().value!);
      this.counts.outboxDropped++;
    }
  }

  outboxSize(): number {
    return this.outbox.size;
  }
}
