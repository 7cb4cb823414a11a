// What /health and /ready decide, as plain functions of samples from the node's parts, so the rules
// are tested without a server and the daemon composes them for its role (manager, worker, hybrid).
// A component is healthy when it has no problems; warnings are reported but leave it healthy (a
// follower that lost one peer of three still serves). A node is healthy when all its components are.
// Readiness is narrower: can this node serve requests now (a load balancer's question).

import { assertNever } from '../../core/assert.ts';
import type { PeerState } from '../grpc/index.ts';
import type { StorageState } from '../storage/index.ts';
import type { RaftSample } from './metrics.ts';

export interface ComponentHealth {
  readonly healthy: boolean;
  /** Why the component is unhealthy, each naming what is wrong and where. Empty when healthy. */
  readonly problems: readonly string[];
  /** Worth an operator's look, but not unhealthy. */
  readonly warnings: readonly string[];
  readonly details: Readonly<Record<string, unknown>>;
}

export function component(details: Record<string, unknown>, problems: string[] = [], warnings: string[] = []): ComponentHealth {
  return { healthy: problems.length === 0, problems, warnings, details };
}

export function assessRaft(sample: RaftSample): ComponentHealth {
  const problems = sample.leader === null ? ['no known Raft leader (an election is in progress, or a quorum of managers is unreachable)'] : [];
  return component({ role: sample.role, term: sample.term, leader: sample.leader, commit: sample.commit, applied: sample.applied }, problems);
}

/** From the WAL: `{ ...storage.status(), dataDir }`. */
export interface StorageHealthSample {
  readonly state: StorageState;
  readonly reason: string | null;
  /** The data directory, so a problem names the disk to look at. */
  readonly dataDir?: string;
}

export function assessStorage(sample: StorageHealthSample): ComponentHealth {
  const where = sample.dataDir === undefined ? '' : ` at ${sample.dataDir}`;
  const because = sample.reason === null ? '' : ` (${sample.reason})`;
  const details = { state: sample.state, reason: sample.reason, ...(sample.dataDir === undefined ? {} : { dataDir: sample.dataDir }) };
  switch (sample.state) {
    case 'ok':
      return component(details);
    case 'disk-full':
      return component(details, [`disk full${where}: writes are refused until space is freed, reads are still served${because}`]);
    case 'failed':
      return component(details, [`storage failed${where}: writes are refused until the daemon restarts and recovers${because}`]);
    case 'closed':
      return component(details, [`storage closed${where}`]);
    default:
      return assertNever(sample.state, 'storage state');
  }
}

/** From the Raft transport; its stats() fits as is. */
export interface TransportHealthSample {
  readonly outbound: Readonly<Record<string, { readonly state: PeerState; readonly lastError?: string | null }>>;
}

/** Unhealthy when fewer than a quorum of the managers (this one included) are reachable. */
export function assessTransport(sample: TransportHealthSample): ComponentHealth {
  const peers = Object.keys(sample.outbound).sort();
  const states: Record<string, PeerState> = {};
  const warnings: string[] = [];
  let connected = 0;
  for (const peer of peers) {
    const { state, lastError } = sample.outbound[peer]!;
    states[peer] = state;
    if (state === 'connected') connected++;
    else warnings.push(`peer ${peer} not connected (${state}${lastError ? `: ${lastError}` : ''})`);
  }
  const managers = peers.length + 1;
  const quorum = Math.floor(managers / 2) + 1;
  const reachable = connected + 1;
  const problems = reachable < quorum ? [`only ${reachable} of ${managers} managers reachable (this one included); a quorum needs ${quorum}`] : [];
  return component({ peers: states, connected, total: peers.length }, problems, warnings);
}

export interface ApiHealthSample {
  readonly accepting: boolean;
  /** Why requests are refused (shutting down, overloaded...), when they are. */
  readonly reason?: string | null;
  readonly inFlightRequests?: number;
}

export function assessApi(sample: ApiHealthSample): ComponentHealth {
  const problems = sample.accepting ? [] : [`not accepting requests${sample.reason ? `: ${sample.reason}` : ''}`];
  const details = { accepting: sample.accepting, ...(sample.inFlightRequests === undefined ? {} : { inFlightRequests: sample.inFlightRequests }) };
  return component(details, problems);
}

// ---- readiness ----

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready. */
  readonly reason: string | null;
}

export const ready: Readiness = { ready: true, reason: null };
export const notReady = (reason: string): Readiness => ({ ready: false, reason });

/**
 * A manager is ready once it knows a leader and has applied everything that was committed when it
 * first learned of one (it is caught up with the cluster as of its start); after that, while it
 * knows a leader. Stateful: one per node, fed the Raft status at each /ready.
 */
export class ManagerReadiness {
  private catchUpIndex: number | null = null;
  private caughtUp = false;

  check(sample: Pick<RaftSample, 'leader' | 'commit' | 'applied'>): Readiness {
    if (sample.leader === null) return notReady('no known Raft leader');
    if (!this.caughtUp) {
      this.catchUpIndex ??= sample.commit;
      if (sample.applied < this.catchUpIndex) return notReady(`catching up: applied ${sample.applied} of ${this.catchUpIndex} committed at startup`);
      this.caughtUp = true;
    }
    return ready;
  }
}

/** A worker is ready while it is connected to a manager. */
export function workerReadiness(connected: boolean, manager: string | null = null): Readiness {
  return connected ? ready : notReady(manager === null ? 'not connected to a manager' : `not connected to manager ${manager}`);
}

/** Ready when every check is; otherwise the first reason (a hybrid node: manager and worker). */
export function allReady(...checks: readonly Readiness[]): Readiness {
  return checks.find((check) => !check.ready) ?? ready;
}
