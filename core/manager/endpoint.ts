// The manager's side of the worker protocol: what a manager does with a worker's heartbeat. The
// leader records the heartbeat (its memory of who is alive), registers an unknown node, revives a
// node the store holds down, proposes the worker's task reports that would still move a task
// forward, and answers with the node's assignments. A non-leader answers with a redirect.
// Invariants: at most one proposal in flight per purpose (a node's registration or revival, a
// task's report), and at most maxProposalsInFlight in all, so a worker repeating its reports on
// every heartbeat until the store shows them never floods the log; a crash forgets them all (a
// crashed manager answers nothing). Assignments come only from a leader whose store includes every
// entry committed before its term, so a worker never sees a view older than one it was given.

import { reportOutcome } from '../state/index.ts';
import type { StateCommand } from '../state/index.ts';
import type { NodeId } from '../state/types.ts';
import type { RaftNode } from '../raft/index.ts';
import type { ClusterState } from '../state/index.ts';
import type { ProposeCallback } from './manager.ts';
import { assignmentsFor, type ContainerSpecCache, type ManagerMessage, type WorkerHeartbeat } from './worker-protocol.ts';

/** What the endpoint needs of the manager process it runs in (the simulated host, or the daemon). */
export interface EndpointHost {
  readonly id: NodeId;
  /** Bumped at every restart of the process: proposals of an earlier life are never answered. */
  readonly epoch: number;
  readonly node: RaftNode;
  readonly state: ClusterState;
  isLeader(): boolean;
  recordHeartbeat(node: NodeId, atUs: number): boolean;
  propose(command: StateCommand, onDone: ProposeCallback): void;
  /** The index of the last entry applied to the store. */
  appliedTo(): number;
}

export interface EndpointConfig {
  /** Reports read from one heartbeat; the worker sends the rest later. */
  readonly maxReportsPerHeartbeat: number;
  /** Bound on this manager's worker-driven proposals awaiting their answer. */
  readonly maxProposalsInFlight: number;
}

export const defaultEndpointConfig: EndpointConfig = { maxReportsPerHeartbeat: 256, maxProposalsInFlight: 4096 };

export interface EndpointCounts {
  heartbeats: number;
  redirects: number;
  registrations: number;
  revivals: number;
  reportsProposed: number;
  /** Proposals not made because the bound on proposals in flight was reached. */
  shed: number;
}

export class ManagerEndpoint {
  readonly counts: EndpointCounts = { heartbeats: 0, redirects: 0, registrations: 0, revivals: 0, reportsProposed: 0, shed: 0 };
  private readonly inflight = new Set<string>();
  private epochSeen: number;
  private readonly specs: ContainerSpecCache = new WeakMap();

  constructor(
    private readonly host: EndpointHost,
    private readonly config: EndpointConfig = defaultEndpointConfig,
  ) {
    this.epochSeen = host.epoch;
  }

  /** Handle one heartbeat on a live, running manager; the answer to send back. */
  onHeartbeat(message: WorkerHeartbeat, nowUs: number): ManagerMessage {
    const host = this.host;
    if (host.epoch !== this.epochSeen) {
      this.inflight.clear(); // proposals of an earlier life are never answered
      this.epochSeen = host.epoch;
    }
    this.counts.heartbeats++;
    const { node, incarnation, seq } = message;
    if (!host.isLeader()) return this.redirect(host.node.status().leader, message);
    const known = host.state.node(node);
    if (known === null) {
      const r = message.registration;
      this.proposeOnce(`register/${node}`, {
        type: 'node-register', id: node, name: r.name, role: r.role ?? 'worker', resources: r.resources, labels: r.labels, address: r.address, atUs: nowUs,
      }, 'registrations');
    } else {
      host.recordHeartbeat(node, nowUs);
      if (known.status === 'down') this.proposeOnce(`revive/${node}`, { type: 'node-heartbeat', id: node, atUs: nowUs }, 'revivals');
    }
    this.proposeReports(message, nowUs);
    // Proposing may have shown that this manager no longer leads.
    if (!host.isLeader()) return this.redirect(host.node.status().leader, message);
    if (!this.caughtUp()) return this.redirect(host.id, message);
    const assignments = known === null ? [] : assignmentsFor(host.state, node, this.specs);
    return { type: 'assignments', from: host.id, leader: host.id, term: host.node.term(), incarnation, seq, assignments };
  }

  private proposeReports(message: WorkerHeartbeat, nowUs: number): void {
    const state = this.host.state;
    const reports = message.reports;
    const count = Math.min(reports.length, this.config.maxReportsPerHeartbeat);
    for (let i = 0; i < count; i++) {
      const report = reports[i]!;
      const task = state.task(report.taskId);
      if (task === null || task.nodeId !== message.node || reportOutcome(task, report.state) !== 'advance') continue;
      this.proposeOnce(`report/${report.taskId}`, {
        type: 'task-report', taskId: report.taskId, state: report.state, exitCode: report.exitCode, message: report.message, atUs: nowUs,
      }, 'reportsProposed');
    }
  }

  private proposeOnce(key: string, command: StateCommand, counter: 'registrations' | 'revivals' | 'reportsProposed'): void {
    if (this.inflight.has(key)) return;
    if (this.inflight.size >= this.config.maxProposalsInFlight) {
      this.counts.shed++;
      return;
    }
    this.inflight.add(key);
    this.counts[counter]++;
    const epoch = this.host.epoch;
    this.host.propose(command, () => {
      if (this.host.epoch === epoch) this.inflight.delete(key);
    });
  }

  /** The leader has applied an entry of its own term: its store holds every earlier commit. */
  private caughtUp(): boolean {
    return this.host.node.termAt(this.host.appliedTo()) === this.host.node.term();
  }

  private redirect(leader: NodeId | null, message: WorkerHeartbeat): ManagerMessage {
    this.counts.redirects++;
    return { type: 'redirect', from: this.host.id, leader, incarnation: message.incarnation, seq: message.seq };
  }
}
