// Which managers a manager daemon knows, and where they are: the address book (kept in the data
// directory's managers.json, so a restart reaches its peers before any log is applied, and in every
// snapshot, on a first line `warren-managers:{...}` before the store's data), the membership changes
// as they are applied, and the leader's side of adding a manager (a learner first, promoted to voter
// once it has caught up) and of removing one (refused when the voters left would have no reachable
// majority).
// A manager that has known no leader for a while asks the others whether they removed it (a removed
// follower is not told by Raft itself), and stops when one has.
// Invariants: every change to the book is written to managers.json (a failure is logged, the book in
// memory stays right) and handed to the transport once it is attached; this manager's own address
// is never handed to the transport; one membership change is proposed at a time.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { nodeId, type ConfChange, type ConfEntryData, type ConfState, type NodeId } from '../../core/raft/index.ts';
import { ApiClient } from '../grpc/api-client.ts';
import type { MembershipResult } from '../grpc/api-server.ts';
import type { ManagerAddress } from '../grpc/api-types.ts';
import type { TransportLogger } from '../grpc/options.ts';
import type { RaftServer } from './raft-server.ts';

/** How often a manager with no leader asks the others whether it was removed, after how long without one. */
const REMOVAL_CHECK_EVERY_MS = 1000;
const LEADERLESS_BEFORE_CHECK_MS = 2000;

/** Snapshot data starts with this and the managers' addresses (JSON) on one line, then the store's snapshot. */
const MANAGERS_PREFIX = 'warren-managers:';
const MANAGERS_FILE = 'managers.json';
/** Written when this manager applies its own removal: its data directory may not start again. */
const REMOVED_FILE = 'removed.json';
const CHANGE_TIMEOUT_MS = 10_000;

/**
 * A manager heard from within this long counts as reachable: a leader's followers answer its
 * heartbeats every 50 ms. Short, since calling a dead voter reachable lets a removal cost the quorum,
 * while calling a slow one unreachable only refuses the removal.
 */
const REACHABLE_WITHIN_MS = 300;

/** The managers' addresses this manager last knew. */
function readManagersFile(dataDir: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(join(dataDir, MANAGERS_FILE), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function writeManagersFile(dataDir: string, book: Record<string, string>): void {
  const file = join(dataDir, MANAGERS_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(book)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** Why the manager of `dataDir` may not start (it was removed from its cluster), or null. */
export function removedFrom(dataDir: string): string | null {
  try {
    const { id, atMs } = JSON.parse(readFileSync(join(dataDir, REMOVED_FILE), 'utf8')) as { id: string; atMs: number };
    return `manager ${id} was removed from its cluster at ${new Date(atMs).toISOString()}; this data directory cannot serve again: start a new manager with an empty --data-dir and warren manager join (under a new id)`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return `${join(dataDir, REMOVED_FILE)} is unreadable (${(error as Error).message}): this manager was removed from its cluster`;
  }
}

export class Membership {
  private readonly addresses = new Map<NodeId, string>();
  private server: RaftServer | null = null;
  private onPeers: ((peers: Map<NodeId, string>) => void) | null = null;
  private isLeader: () => boolean = () => false;
  /** Managers whose removal was applied here since this process started, and not added again. */
  private readonly removedIds = new Set<NodeId>();
  private removalWatch: NodeJS.Timeout | null = null;
  /** Since when this manager has known no leader (null while it knows one). */
  private leaderlessSinceMs: number | null = null;
  private askingPeers = false;
  /** When a Raft message last came from each manager (ms since the epoch), and in which term. */
  private readonly lastHeard = new Map<NodeId, { atMs: number; term: number }>();

  /** The book from managers.json, then the peers given on the command line. */
  constructor(
    private readonly self: NodeId,
    private readonly dataDir: string,
    peers: Readonly<Record<string, string>>,
    private readonly log: TransportLogger,
  ) {
    for (const [peer, address] of Object.entries(readManagersFile(dataDir))) this.addresses.set(nodeId(peer), address);
    for (const [peer, address] of Object.entries(peers)) this.addresses.set(nodeId(peer), address);
  }

  /** Where the other managers' addresses go on every change from now on (the transport). */
  sendPeersTo(onPeers: (peers: Map<NodeId, string>) => void): void {
    this.onPeers = onPeers;
  }

  /** The Raft server and whether this manager leads: for joins and promotions. */
  attach(server: RaftServer, isLeader: () => boolean): void {
    this.server = server;
    this.isLeader = isLeader;
  }

  /** A Raft message of `term` came from `peer` (the removal's quorum check counts who answers). */
  heard(peer: NodeId, term: number): void {
    const heard = this.lastHeard.get(peer);
    if (heard === undefined) {
      this.lastHeard.set(peer, { atMs: Date.now(), term });
      return;
    }
    heard.atMs = Date.now();
    heard.term = term;
  }

  /** Every address known, this manager's own included when known. */
  all(): Map<NodeId, string> {
    return new Map(this.addresses);
  }

  /** This manager's address for peers, workers and clients (known once it listens). */
  address(): string {
    return this.addresses.get(this.self)!;
  }

  setOwnAddress(address: string): void {
    this.addresses.set(this.self, address);
    this.changed();
  }

  /** Replaces the other managers' addresses (a membership change, or ports learnt late). */
  setPeers(peers: Readonly<Record<string, string>>): void {
    const own = this.addresses.get(this.self);
    this.addresses.clear();
    if (own !== undefined) this.addresses.set(this.self, own);
    for (const [peer, address] of Object.entries(peers)) if (peer !== this.self) this.addresses.set(nodeId(peer), address);
    this.changed();
  }

  /** The first line of a snapshot's data: the book. */
  snapshotHeader(): string {
    return `${MANAGERS_PREFIX}${JSON.stringify(Object.fromEntries(this.addresses))}\n`;
  }

  /** A snapshot's data: the managers' addresses line (when present) taken into the book; the store's part returned. */
  restore(data: string): string {
    if (!data.startsWith(MANAGERS_PREFIX)) return data;
    const newline = data.indexOf('\n');
    const book = JSON.parse(data.slice(MANAGERS_PREFIX.length, newline)) as Record<string, string>;
    for (const [id, address] of Object.entries(book)) if (id !== this.self) this.addresses.set(nodeId(id), address);
    this.changed();
    return data.slice(newline + 1);
  }

  /**
   * A membership change applied: record or forget the member's address. Returns true when it
   * removed this manager (the caller records it with markRemoved and stops).
   */
  onConf(change: ConfEntryData): boolean {
    if (change.type === 'remove') {
      if (change.node === this.self) return true;
      this.addresses.delete(change.node);
      this.removedIds.add(change.node);
    } else if (change.context !== undefined) {
      try {
        const { address } = JSON.parse(change.context) as { address?: unknown };
        if (typeof address === 'string' && change.node !== this.self) this.addresses.set(change.node, address);
        this.removedIds.delete(change.node);
      } catch {
        this.log.warn({ event: 'conf-context-unreadable', peer_id: change.node }, 'a membership change carries no readable address');
      }
    }
    this.changed();
    return false;
  }

  /**
   * A removed follower seldom applies its own removal: the leader stops sending to it once the
   * removal applies there. So, until stopWatching(), a manager that has known no leader for a while
   * asks the others whether they applied its removal, and calls `onRemoved` if one did.
   */
  watchForRemoval(onRemoved: (how: string) => void): void {
    this.removalWatch ??= setInterval(() => void this.askIfRemoved(onRemoved), REMOVAL_CHECK_EVERY_MS).unref();
  }

  stopWatching(): void {
    if (this.removalWatch !== null) clearInterval(this.removalWatch);
    this.removalWatch = null;
  }

  private async askIfRemoved(onRemoved: (how: string) => void): Promise<void> {
    if (this.raft().node.leader() !== null) {
      this.leaderlessSinceMs = null;
      return;
    }
    this.leaderlessSinceMs ??= Date.now();
    if (Date.now() - this.leaderlessSinceMs < LEADERLESS_BEFORE_CHECK_MS || this.askingPeers) return;
    const peers = [...this.addresses].filter(([peer]) => peer !== this.self).map(([, address]) => address);
    if (peers.length === 0) return;
    this.askingPeers = true;
    const client = new ApiClient({ addresses: peers, timeoutMs: 1000, connectTimeoutMs: 500 });
    try {
      const info = await client.clusterInfo();
      if (info.removedManagers.includes(this.self) && this.removalWatch !== null) onRemoved(`manager ${info.servedBy} applied its removal`);
    } catch {
      // no manager answered: nothing is known; ask again later
    } finally {
      client.close();
      this.askingPeers = false;
    }
  }

  /** Records on disk that this manager was removed (removedFrom). */
  markRemoved(): void {
    try {
      writeFileSync(join(this.dataDir, REMOVED_FILE), `${JSON.stringify({ id: this.self, atMs: Date.now() })}\n`);
    } catch (error) {
      // The manager still stops; only a restart on this directory would not be refused.
      this.log.error({ event: 'removed-mark-failed', error: (error as Error).message }, `could not record in ${this.dataDir} that this manager was removed; do not start it again on this directory`);
    }
  }

  /** Managers whose removal was applied here since this process started. */
  removed(): NodeId[] {
    return [...this.removedIds].sort();
  }

  /** Every member (voters and learners), sorted, with its address. */
  memberAddresses(conf: ConfState = this.raft().node.status().conf): ManagerAddress[] {
    return [...conf.voters, ...conf.learners].sort().map((m) => this.managerAddress(m));
  }

  managerAddress(id: NodeId): ManagerAddress {
    return { id, apiAddress: this.addresses.get(id) ?? null };
  }

  /** The leader's side of a manager joining: the address recorded, the learner added and applied. */
  async join(id: NodeId, address: string): Promise<MembershipResult> {
    const server = this.raft();
    const conf = server.node.status().conf;
    if (conf.voters.includes(id) || conf.learners.includes(id)) {
      const known = this.addresses.get(id);
      if (known === address) return { ok: true, managers: this.memberAddresses() }; // a retried join
      return { ok: false, failure: { code: grpc.status.FAILED_PRECONDITION, message: `manager ${id} is already a member, at ${known ?? 'an unknown address'}; remove it first or pick another id` } };
    }
    const taken = [...this.addresses].find(([other, at]) => at === address && other !== id);
    if (taken !== undefined) return { ok: false, failure: { code: grpc.status.ALREADY_EXISTS, message: `address ${address} is manager ${taken[0]}'s; give the new manager its own --listen/--advertise` } };
    return this.change({ type: 'add-learner', node: id, context: JSON.stringify({ address }) }, 'added', 'join again: a join that took effect is accepted again');
  }

  /** The leader's side of removing a manager: refused when it would cost the cluster its quorum. */
  async remove(id: NodeId): Promise<MembershipResult> {
    const conf = this.raft().node.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      return { ok: false, failure: { code: grpc.status.NOT_FOUND, message: `manager ${id} is not a member of the cluster (its members are ${[...conf.voters, ...conf.learners].sort().join(', ')})` } };
    }
    const unsafe = this.quorumProblem(id);
    if (unsafe !== null) return { ok: false, failure: { code: grpc.status.FAILED_PRECONDITION, message: unsafe } };
    return this.change({ type: 'remove', node: id }, 'removed', 'look with warren cluster info, then remove it again if it is still listed');
  }

  /** Why removing `id` would leave the voters without a reachable majority, or null. */
  private quorumProblem(id: NodeId): string | null {
    const { conf, term } = this.raft().node.status();
    const voters = conf.voters;
    if (!voters.includes(id)) return null; // a learner does not vote
    const left = voters.filter((v) => v !== id);
    if (left.length === 0) return `manager ${id} is the last voter; a cluster needs at least one`;
    const now = Date.now();
    // Only messages of this leader's term count: a voter last heard from under the leader before
    // (a dead leader's final heartbeats) has not been heard to answer this one.
    const answered = (v: NodeId): boolean => {
      const heard = this.lastHeard.get(v);
      return heard !== undefined && heard.term === term && now - heard.atMs <= REACHABLE_WITHIN_MS;
    };
    const reachable = left.filter((v) => v === this.self || answered(v));
    if (reachable.length > left.length / 2) return null;
    const unreachable = left.filter((v) => !reachable.includes(v));
    return `removing manager ${id} would leave ${left.length} voters (${left.join(', ')}) of which ${unreachable.join(', ')} cannot be reached, so no majority could commit; bring ${unreachable.length === 1 ? 'it' : 'them'} back (or remove ${unreachable.length === 1 ? 'it' : 'them'}) first`;
  }

  /** Proposes one membership change and waits until it is applied here. */
  private async change(change: ConfChange, done: string, unknownAdvice: string): Promise<MembershipResult> {
    const server = this.raft();
    const id = change.node;
    const result = server.operate((node) => node.proposeConfChange(change));
    if (!result.ok) {
      const retry = result.code === 'conf-change-pending' || result.code === 'not-ready' || result.code === 'not-leader' || result.code === 'transfer-in-progress';
      return { ok: false, failure: retry
        ? { code: grpc.status.UNAVAILABLE, outcome: 'not-applied', message: `manager ${this.self} cannot change the membership now (${result.message}); retry shortly` }
        : { code: grpc.status.FAILED_PRECONDITION, message: `manager ${id} cannot be ${done}: ${result.message}` } };
    }
    const deadline = Date.now() + CHANGE_TIMEOUT_MS;
    // A leader removing itself steps down once the removal is applied: wait for the apply, not the leadership.
    const leading = (): boolean => this.isLeader() || (change.type === 'remove' && id === this.self);
    while (server.appliedTo() < result.index && Date.now() < deadline && leading()) await new Promise((r) => setTimeout(r, 10));
    const members = server.node.status().conf;
    const isMember = members.learners.includes(id) || members.voters.includes(id);
    if (server.appliedTo() >= result.index && isMember === (change.type !== 'remove')) return { ok: true, managers: this.memberAddresses(members) };
    return { ok: false, failure: { code: grpc.status.UNAVAILABLE, outcome: 'unknown', message: `outcome unknown: manager ${id} was to be ${done} at index ${result.index}, but that was not seen applied (leadership changed or the cluster is slow); ${unknownAdvice}` } };
  }

  /** On the leader: a learner that has caught up becomes a voter (the core refuses one that lags). */
  promoteLearners(): void {
    const server = this.raft();
    const status = server.node.status();
    for (const learner of status.conf.learners) {
      const address = this.addresses.get(learner);
      if (address === undefined) continue;
      const progress = server.node.progress().find((p) => p.id === learner);
      if (progress === undefined || progress.match < status.commit) continue;
      const result = server.operate((node) => node.proposeConfChange({ type: 'add-voter', node: learner, context: JSON.stringify({ address }) }));
      if (result.ok) this.log.info({ event: 'promote', peer_id: learner }, `manager ${learner} caught up: promoting it to voter`);
      return; // one change at a time
    }
  }

  private raft(): RaftServer {
    if (this.server === null) throw new Error('membership: the Raft server is not attached yet');
    return this.server;
  }

  private changed(): void {
    // A snapshot restored before the transport exists only fills the book.
    this.onPeers?.(new Map([...this.addresses].filter(([peer]) => peer !== this.self)));
    try {
      writeManagersFile(this.dataDir, Object.fromEntries(this.addresses));
    } catch (error) {
      this.log.warn({ event: 'managers-file-failed', error: (error as Error).message }, 'could not record the managers\' addresses');
    }
  }
}
