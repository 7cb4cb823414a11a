// Which managers a manager daemon knows, and where they are: the address book (kept in the data
// directory's managers.json, so a restart reaches its peers before any log is applied, and in every
// snapshot, on a first line `warren-managers:{...}` before the store's data), the membership changes
// as they are applied, and the leader's side of adding a manager (a learner first, promoted to voter
// once it has caught up).
// Invariants: every change to the book is written to managers.json (a failure is logged, the book in
// memory stays right) and handed to the transport once it is attached; this manager's own address
// is never handed to the transport; one membership change is proposed at a time.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { nodeId, type ConfEntryData, type ConfState, type NodeId } from '../../core/raft/index.ts';
import type { ApiFailure } from '../grpc/api-errors.ts';
import type { ManagerAddress } from '../grpc/api-types.ts';
import type { TransportLogger } from '../grpc/options.ts';
import type { RaftServer } from './raft-server.ts';

/** Snapshot data starts with this and the managers' addresses (JSON) on one line, then the store's snapshot. */
const MANAGERS_PREFIX = 'warren-managers:';
const MANAGERS_FILE = 'managers.json';
const JOIN_TIMEOUT_MS = 10_000;

export type JoinResult = { readonly ok: true; readonly managers: readonly ManagerAddress[] } | { readonly ok: false; readonly failure: ApiFailure };

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

export class Membership {
  private readonly addresses = new Map<NodeId, string>();
  private server: RaftServer | null = null;
  private onPeers: ((peers: Map<NodeId, string>) => void) | null = null;
  private isLeader: () => boolean = () => false;

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

  /** A membership change applied: record or forget the member's address. */
  onConf(change: ConfEntryData): void {
    if (change.type === 'remove') {
      if (change.node !== this.self) this.addresses.delete(change.node);
    } else if (change.context !== undefined) {
      try {
        const { address } = JSON.parse(change.context) as { address?: unknown };
        if (typeof address === 'string' && change.node !== this.self) this.addresses.set(change.node, address);
      } catch {
        this.log.warn({ event: 'conf-context-unreadable', peer_id: change.node }, 'a membership change carries no readable address');
      }
    }
    this.changed();
  }

  /** Every member (voters and learners), sorted, with its address. */
  memberAddresses(conf: ConfState = this.raft().node.status().conf): ManagerAddress[] {
    return [...conf.voters, ...conf.learners].sort().map((m) => this.managerAddress(m));
  }

  managerAddress(id: NodeId): ManagerAddress {
    return { id, apiAddress: this.addresses.get(id) ?? null };
  }

  /** The leader's side of a manager joining: the address recorded, the learner added and applied. */
  async join(id: NodeId, address: string): Promise<JoinResult> {
    const server = this.raft();
    const conf = server.node.status().conf;
    if (conf.voters.includes(id) || conf.learners.includes(id)) {
      const known = this.addresses.get(id);
      if (known === address) return { ok: true, managers: this.memberAddresses() }; // a retried join
      return { ok: false, failure: { code: grpc.status.FAILED_PRECONDITION, message: `manager ${id} is already a member, at ${known ?? 'an unknown address'}; remove it first or pick another id` } };
    }
    const taken = [...this.addresses].find(([other, at]) => at === address && other !== id);
    if (taken !== undefined) return { ok: false, failure: { code: grpc.status.ALREADY_EXISTS, message: `address ${address} is manager ${taken[0]}'s; give the new manager its own --listen/--advertise` } };
    const result = server.operate((node) => node.proposeConfChange({ type: 'add-learner', node: id, context: JSON.stringify({ address }) }));
    if (!result.ok) {
      const retry = result.code === 'conf-change-pending' || result.code === 'not-ready' || result.code === 'not-leader' || result.code === 'transfer-in-progress';
      return { ok: false, failure: retry
        ? { code: grpc.status.UNAVAILABLE, outcome: 'not-applied', message: `manager ${this.self} cannot add ${id} now (${result.message}); retry shortly` }
        : { code: grpc.status.FAILED_PRECONDITION, message: `manager ${id} cannot be added: ${result.message}` } };
    }
    const deadline = Date.now() + JOIN_TIMEOUT_MS;
    while (server.appliedTo() < result.index && Date.now() < deadline && this.isLeader()) await new Promise((r) => setTimeout(r, 10));
    const now = server.node.status().conf;
    if (server.appliedTo() >= result.index && (now.learners.includes(id) || now.voters.includes(id))) return { ok: true, managers: this.memberAddresses() };
    return { ok: false, failure: { code: grpc.status.UNAVAILABLE, outcome: 'unknown', message: `outcome unknown: manager ${id}'s addition was proposed at index ${result.index} but not seen applied (leadership changed or the cluster is slow); join again: a join that took effect is accepted again` } };
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
