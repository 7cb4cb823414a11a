// A small hand-driven world for the simulated Raft servers' tests (sim/host.test.ts for the
// key-value server, sim/orchestration/manager.test.ts for the manager): an event queue of ticks,
// deliveries (fixed latency, an optional drop filter) and disk syncs, quiet disks, and an observer
// recording every call with its virtual time. Much smaller than the chaos worlds, so a test can
// steer each step. Tests add their own events by overriding dispatchOther.

import { nodeId, noBugs, type Entry, type HardState, type Message, type NodeId } from '../core/raft/index.ts';
import { SimDisk, type DiskConfig, type SyncToken } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import { calmDisk } from './nemesis.ts';
import type { DiskRecord, DurableView, SimObserver } from './protocol.ts';
import type { RaftShell, ShellConfig, ShellEnv } from './raft-shell.ts';
import { Rng } from './rng.ts';

export const tickUs = 100_000;
export const messageLatencyUs = 1_000;
export const quietDisk: DiskConfig = { ...calmDisk, syncLatencyMinUs: 500, syncLatencyMeanUs: 0 };

export const baseShellConfig: ShellConfig = {
  electionTicks: 10,
  maxMsgBytes: 65_536,
  maxInflightMsgs: 64,
  snapshotChunkBytes: 65_536,
  snapshotEveryEntries: 10_000,
  keepEntriesAfterSnapshot: 5,
  preVote: false,
  checkQuorum: false,
  raftBugs: noBugs,
  ackBeforeSync: false,
  pipelineEarlyReply: false,
};

export type ShellWorldEvent =
  | { readonly type: 'tick'; readonly node: number; readonly epoch: number }
  | { readonly type: 'deliver'; readonly to: number; readonly message: Message }
  | { readonly type: 'sync'; readonly node: number; readonly token: SyncToken };

export interface Sent {
  readonly atUs: number;
  readonly message: Message;
  readonly durable: { readonly hardState: HardState; readonly lastIndex: number };
}

export class RecordingObserver implements SimObserver {
  readonly calls: { readonly kind: string; readonly node: NodeId; readonly atUs: number; readonly detail: unknown }[] = [];
  readonly sends: Sent[] = [];

  onSoftState(node: NodeId, role: string, term: number, nowUs: number): void {
    this.calls.push({ kind: 'soft', node, atUs: nowUs, detail: { role, term } });
  }
  onApply(node: NodeId, entry: Entry, nowUs: number): void {
    this.calls.push({ kind: 'apply', node, atUs: nowUs, detail: entry });
  }
  onSnapshotApplied(node: NodeId, index: number, term: number, nowUs: number): void {
    this.calls.push({ kind: 'snapshot', node, atUs: nowUs, detail: { index, term } });
  }
  onHardStateSynced(node: NodeId, hardState: HardState, nowUs: number): void {
    this.calls.push({ kind: 'synced', node, atUs: nowUs, detail: hardState });
  }
  onRestart(node: NodeId, hardState: HardState, nowUs: number): void {
    this.calls.push({ kind: 'restart', node, atUs: nowUs, detail: hardState });
  }
  onWriteAcked(node: NodeId, index: number, term: number, nowUs: number): void {
    this.calls.push({ kind: 'acked', node, atUs: nowUs, detail: { index, term } });
  }
  onSend(_node: NodeId, message: Message, durable: DurableView, nowUs: number): void {
    this.sends.push({ atUs: nowUs, message, durable: { hardState: durable.hardState, lastIndex: durable.lastIndex } });
  }
  onLeaderCommit(node: NodeId, term: number, commit: number, _log: unknown, nowUs: number): void {
    this.calls.push({ kind: 'commit', node, atUs: nowUs, detail: { term, commit } });
  }
}

/** Builds one server of the world from its id, disk, generator, environment and number. */
export type MakeServer<H> = (id: NodeId, disk: SimDisk<DiskRecord>, rng: Rng, env: ShellEnv, index: number) => H;

export class ShellTestWorld<H extends RaftShell, E extends { readonly type: string } = ShellWorldEvent> {
  readonly queue = new EventQueue<ShellWorldEvent | E>(100_000);
  readonly hosts: H[] = [];
  readonly observer = new RecordingObserver();
  readonly sent: { readonly atUs: number; readonly message: Message }[] = [];
  /** Completion time of every sync event delivered, per node. */
  readonly syncTimes: number[][] = [];
  readonly syncsScheduled: { readonly node: number; readonly token: SyncToken }[] = [];
  drop: (message: Message) => boolean = () => false;

  /** Servers n1..nN (or the given prefix), bootstrapped as the voters of one cluster. */
  protected addServers(size: number, prefix: string, seed: string, make: MakeServer<H>): void {
    const rng = new Rng(seed);
    const ids = Array.from({ length: size }, (_, i) => nodeId(`${prefix}${i + 1}`));
    ids.forEach((id, i) => {
      const disk = new SimDisk<DiskRecord>(rng.child(`disk/${id}`), quietDisk);
      this.hosts.push(make(id, disk, rng.child(`host/${id}`), this.env(i), i));
      this.syncTimes.push([]);
    });
    for (const host of this.hosts) host.bootstrap({ voters: ids, learners: [] });
  }

  private env(node: number): ShellEnv {
    return {
      nowUs: () => this.queue.nowUs,
      send: (message) => {
        this.sent.push({ atUs: this.queue.nowUs, message });
        if (this.drop(message)) return;
        const to = this.hosts.findIndex((h) => h.id === message.to);
        this.queue.schedule(this.queue.nowUs + messageLatencyUs, { type: 'deliver', to, message });
      },
      scheduleSync: (_host, token) => {
        this.syncsScheduled.push({ node, token });
        this.queue.schedule(token.doneAtUs, { type: 'sync', node, token });
      },
      observer: this.observer,
    };
  }

  startTicks(): void {
    this.hosts.forEach((_, i) => this.scheduleTick(i));
  }

  private scheduleTick(node: number): void {
    this.queue.schedule(this.queue.nowUs + tickUs, { type: 'tick', node, epoch: this.hosts[node]!.epoch });
  }

  /** The process comes back from its disk and its clock starts ticking again. */
  restart(node: number): void {
    this.hosts[node]!.start();
    this.scheduleTick(node);
  }

  private dispatch(e: ShellWorldEvent | E): void {
    const base = e as ShellWorldEvent;
    switch (base.type) {
      case 'tick': {
        const host = this.hosts[base.node]!;
        if (!host.up || host.epoch !== base.epoch) return;
        this.scheduleTick(base.node);
        host.tick();
        return;
      }
      case 'deliver':
        if (this.hosts[base.to]!.up) this.hosts[base.to]!.receive(base.message);
        return;
      case 'sync':
        // Delivered even when stale (from an earlier life): the host itself must ignore it.
        this.syncTimes[base.node]!.push(this.queue.nowUs);
        this.hosts[base.node]!.syncDone(base.token);
        return;
      default:
        this.dispatchOther(e as E);
    }
  }

  /** A test's own event. */
  protected dispatchOther(_e: E): void {}

  runUntil(atUs: number): void {
    while (this.queue.peekTimeUs() <= atUs) this.dispatch(this.queue.pop()!);
    this.queue.advanceTo(atUs);
  }

  runFor(durationUs: number): void {
    this.runUntil(this.queue.nowUs + durationUs);
  }

  /** Run event by event until `done`; throws naming `what` past `limitUs`. */
  runUntilTrue(done: () => boolean, limitUs: number, what: string): void {
    const deadline = this.queue.nowUs + limitUs;
    while (!done()) {
      if (this.queue.peekTimeUs() > deadline) throw new Error(`${what}: not reached within ${limitUs} us`);
      this.dispatch(this.queue.pop()!);
    }
  }
}
