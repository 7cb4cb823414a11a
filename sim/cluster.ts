// The simulated world: N servers, their network, disks and clocks, the clients, and the nemesis, all
// driven by one event queue in virtual time. One seed fixes everything. A run has a safety phase
// (faults on, checkers watching every step) and a liveness phase (all faults healed: a leader must
// emerge, commits resume, every client operation completes, and all servers converge).

import { nodeId, type NodeId, type RaftBugs } from '../core/raft/index.ts';
import { SimDisk } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import { SimHost, type HostEnv } from './host.ts';
import { calmDisk, calmNetwork, type FaultClassName, type FaultPlan } from './nemesis.ts';
import { Network } from './network.ts';
import { FaultApplier } from './fault-apply.ts';
import type { DiskRecord, SimObserver } from './protocol.ts';
import { Rng } from './rng.ts';
import { Workload } from './workload.ts';
import { Admin } from './admin.ts';
import { TraceHash } from './trace-hash.ts';
import { countFaults, describe, faultDetail, type SimEvent } from './sim-event.ts';

export interface ClusterOptions {
  readonly seed: string;
  readonly nodes: number;
  readonly durationUs: number;
  readonly opsPerSecond: number;
  readonly plan: FaultPlan;
  readonly raftBugs: RaftBugs;
  readonly ackBeforeSync: boolean;
  readonly pipelineEarlyReply: boolean;
  readonly readBeforeApply: boolean;
  readonly observer: SimObserver;
  readonly trace: ((line: string) => void) | null;
}

export class LivenessError extends Error {
  override readonly name = 'LivenessError';
}

const tickUs = 100_000;
const electionTicks = 10;
const livenessBoundUs = 30_000_000;
const livenessCheckEveryUs = 100_000;

export class Cluster {
  readonly queue = new EventQueue<SimEvent>(2_000_000);
  readonly network: Network;
  readonly hosts: SimHost[] = [];
  readonly ids: NodeId[];
  readonly workload: Workload;
  readonly hash = new TraceHash();
  readonly fired = { crash: 0, restart: 0, pause: 0, drift: 0, clockJump: 0 };
  private readonly indexOf = new Map<NodeId, number>();
  private readonly drift: number[];
  private readonly backlog: SimEvent[][];
  private readonly clientRng: Rng;
  private readonly processRng: Rng;
  private readonly faults: FaultApplier;
  readonly admin: Admin;
  healedAtUs = -1;
  events = 0;

  constructor(private readonly options: ClusterOptions) {
    const rng = new Rng(options.seed);
    const plan = options.plan;
    this.network = new Network(rng.child('network'), plan.network);
    this.clientRng = rng.child('client-network');
    this.processRng = rng.child('process');
    this.ids = Array.from({ length: options.nodes }, (_, i) => nodeId(`n${i + 1}`));
    this.drift = plan.drift.slice();
    this.fired.drift = this.drift.filter((d) => d !== 1).length;
    this.backlog = this.ids.map(() => []);
    this.faults = new FaultApplier({
      network: this.network,
      ids: this.ids,
      maxDown: plan.maxDown,
      resolve: (target) => this.resolve(target),
      isDown: (node) => !this.hosts[node]!.up || this.hosts[node]!.paused,
      crash: (node) => this.crashHost(node),
      pause: (node) => {
        this.hosts[node]!.paused = true;
        this.fired.pause++;
      },
      restart: (node) => this.restart(node),
      resume: (node) => this.resume(node),
      setDrift: (node, rate) => {
        this.drift[node] = rate;
        this.fired.drift++;
      },
      clockJump: (node, ticks) => {
        const host = this.hosts[node]!;
        if (!host.up || host.paused) return;
        this.fired.clockJump++;
        for (let i = 0; i < ticks; i++) host.tick();
      },
    });
    const env = this.hostEnv();
    this.ids.forEach((id, i) => {
      this.indexOf.set(id, i);
      this.network.register(id);
      const disk = new SimDisk<DiskRecord>(rng.child(`disk/${id}`), plan.disk);
      this.hosts.push(
        new SimHost(id, disk, rng.child(`host/${id}`), {
          electionTicks,
          maxMsgBytes: plan.tuning.maxMsgBytes,
          maxInflightMsgs: plan.tuning.maxInflightMsgs,
          preVote: plan.tuning.preVote,
          checkQuorum: plan.tuning.checkQuorum,
          snapshotChunkBytes: plan.tuning.snapshotChunkBytes,
          snapshotEveryEntries: plan.tuning.snapshotEveryEntries,
          keepEntriesAfterSnapshot: 50,
          raftBugs: options.raftBugs,
          ackBeforeSync: options.ackBeforeSync,
          pipelineEarlyReply: options.pipelineEarlyReply,
          readBeforeApply: options.readBeforeApply,
        }, env),
      );
    });
    this.admin = new Admin(rng.child('admin'), this.hosts, () => this.leaderIndex());
    const clients = 5;
    this.workload = new Workload(
      { clients, keys: 8, thinkMeanUs: Math.max(1000, Math.floor((clients * 1_000_000) / Math.max(1, options.opsPerSecond))), timeoutUs: 1_500_000 },
      rng.child('workload'),
      {
        nowUs: () => this.queue.nowUs,
        send: (node, req) => this.queue.schedule(this.queue.nowUs + this.clientLatencyUs(), { type: 'request', node, req }),
        wakeAt: (atUs, client, seq) => this.queue.schedule(atUs, { type: 'wake', client, seq }),
        nodeIds: this.ids,
      },
    );
  }

  private clientLatencyUs(): number {
    const net = this.options.plan.network;
    return net.latencyMinUs + Math.floor(this.clientRng.exponential(net.latencyMeanUs));
  }

  private hostEnv(): HostEnv {
    const out: number[] = [];
    return {
      nowUs: () => this.queue.nowUs,
      send: (msg) => {
        out.length = 0;
        const n = this.network.route(msg.from, msg.to, this.queue.nowUs, out);
        const to = this.indexOf.get(msg.to)!;
        for (let i = 0; i < n; i++) this.queue.schedule(out[i]!, { type: 'deliver', to, msg });
      },
      reply: (client, reply) => this.queue.schedule(this.queue.nowUs + this.clientLatencyUs(), { type: 'reply', client, reply }),
      scheduleSync: (host, token) => {
        const node = this.indexOf.get(host.id)!;
        this.queue.schedule(token.doneAtUs, { type: 'sync', node, epoch: host.epoch, token });
      },
      observer: this.options.observer,
    };
  }

  /** Run both phases. Throws what the checkers throw; LivenessError when the bound is exceeded. */
  run(): void {
    const conf = { voters: this.ids.slice(), learners: [] };
    this.hosts.forEach((h, i) => {
      h.bootstrap(conf);
      this.scheduleTick(i);
    });
    this.options.plan.events.forEach((e, index) => this.queue.schedule(e.atUs, { type: 'fault', index }));
    this.queue.schedule(this.options.durationUs, { type: 'heal' });
    this.workload.start();
    if (this.options.plan.tuning.adminEveryUs > 0) this.queue.schedule(this.options.plan.tuning.adminEveryUs, { type: 'admin' });
    this.runUntil(this.options.durationUs);
    this.runLiveness();
  }

  private runUntil(endUs: number): void {
    while (this.queue.peekTimeUs() <= endUs) this.dispatch(this.queue.pop()!);
  }

  private runLiveness(): void {
    const deadline = this.options.durationUs + livenessBoundUs;
    const okAtHeal = this.workload.clients.map((c) => c.okCount);
    let checkAt = this.queue.nowUs + livenessCheckEveryUs;
    let stage: 'recovering' | 'draining' = 'recovering';
    while (this.queue.nowUs < deadline) {
      this.runUntil(checkAt);
      checkAt += livenessCheckEveryUs;
      if (stage === 'recovering') {
        const everyClientOk = this.workload.clients.every((c, i) => c.okCount > okAtHeal[i]!);
        if (everyClientOk && this.leaderIndex() >= 0) {
          this.workload.stopped = true;
          stage = 'draining';
        }
      } else if (this.workload.outstanding() === 0 && this.admin.settled(this.ids) && this.converged()) {
        return;
      }
    }
    throw new LivenessError(this.livenessReport(stage, okAtHeal));
  }

  private livenessReport(stage: string, okAtHeal: number[]): string {
    const statuses = this.hosts.map((h) => (h.up ? `${h.id}:${h.node.status().role}/t${h.node.status().term}/c${h.node.status().commit}/a${h.appliedTo()}` : `${h.id}:down`));
    const clients = this.workload.clients.map((c, i) => `c${i}:+${c.okCount - okAtHeal[i]!}`);
    return `not converged ${livenessBoundUs / 1e6}s after heal (${stage}): ${statuses.join(' ')}; ok since heal ${clients.join(' ')}; outstanding ${this.workload.outstanding()}`;
  }

  leaderIndex(): number {
    let best = -1;
    let bestTerm = -1;
    this.hosts.forEach((h, i) => {
      if (!h.up || h.paused) return;
      const s = h.node.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = i;
        bestTerm = s.term;
      }
    });
    return best;
  }

  private converged(): boolean {
    const leader = this.leaderIndex();
    if (leader < 0) return false;
    const commit = this.hosts[leader]!.node.status().commit;
    return this.hosts.every((h) => h.up && h.appliedTo() === commit && h.node.status().commit === commit);
  }

  private scheduleTick(node: number): void {
    const host = this.hosts[node]!;
    this.queue.schedule(this.queue.nowUs + Math.max(1, Math.round(tickUs / this.drift[node]!)), { type: 'tick', node, epoch: host.epoch });
  }

  private dispatch(e: SimEvent): void {
    this.events++;
    this.hash.add(this.queue.nowUs, e);
    if (this.options.trace) this.options.trace(`${this.queue.nowUs} ${describe(e)}`);
    switch (e.type) {
      case 'tick': {
        const host = this.hosts[e.node]!;
        if (!host.up || e.epoch !== host.epoch) return;
        this.scheduleTick(e.node);
        if (!host.paused) host.tick();
        return;
      }
      case 'deliver':
      case 'request':
      case 'sync': {
        const node = e.type === 'deliver' ? e.to : e.node;
        const host = this.hosts[node]!;
        if (!host.up) {
          if (e.type === 'request') this.queue.schedule(this.queue.nowUs + this.clientLatencyUs(), { type: 'reply', client: e.req.client, reply: { id: e.req.id, outcome: 'fail', reason: 'connection refused', leader: null } });
          return;
        }
        if (e.type === 'sync' && e.epoch !== host.epoch) return;
        if (host.paused) {
          this.backlog[node]!.push(e);
          return;
        }
        this.deliverTo(host, e);
        if (e.type === 'sync') this.maybeCrashAfterSync(e.node);
        return;
      }
      case 'restart':
        this.restart(e.node);
        return;
      case 'reply':
        this.workload.clients[e.client]!.onReply(e.reply);
        return;
      case 'wake':
        this.workload.clients[e.client]!.wake(e.seq);
        return;
      case 'fault':
        this.faults.apply(e.index, this.options.plan.events[e.index]!);
        return;
      case 'heal':
        this.healAll();
        return;
      case 'admin': {
        this.admin.step();
        const every = this.admin.disruptive ? this.options.plan.tuning.adminEveryUs : livenessCheckEveryUs * 5;
        this.queue.schedule(this.queue.nowUs + every, { type: 'admin' });
        return;
      }
    }
  }

  private deliverTo(host: SimHost, e: SimEvent): void {
    if (e.type === 'deliver') host.receive(e.msg);
    else if (e.type === 'request') host.request(e.req);
    else if (e.type === 'sync') host.syncDone(e.token);
  }

  private downCount(): number {
    return this.hosts.filter((h) => !h.up || h.paused).length;
  }

  private resolve(target: number | 'leader'): number {
    if (target === 'leader') {
      const l = this.leaderIndex();
      return l >= 0 ? l : this.queue.nowUs % this.hosts.length;
    }
    return target % this.hosts.length;
  }

  private crashHost(node: number): void {
    this.hosts[node]!.crash();
    this.backlog[node] = [];
    this.fired.crash++;
  }

  /** kill -9 right after a sync completed and its messages left: the moment state just changed. */
  private maybeCrashAfterSync(node: number): void {
    const host = this.hosts[node]!;
    if (this.healedAtUs >= 0 || !host.up || this.downCount() >= this.options.plan.maxDown) return;
    if (!this.processRng.chance(this.options.plan.crashAfterSyncRate)) return;
    this.crashHost(node);
    this.queue.schedule(this.queue.nowUs + this.options.plan.crashAfterSyncRestartUs, { type: 'restart', node });
  }

  private restart(node: number): void {
    const host = this.hosts[node]!;
    if (host.up) return;
    host.start();
    this.fired.restart++;
    this.scheduleTick(node);
  }

  private resume(node: number): void {
    const host = this.hosts[node]!;
    if (!host.up || !host.paused) return;
    host.paused = false;
    const backlog = this.backlog[node]!;
    this.backlog[node] = [];
    for (const e of backlog) {
      if (!host.up || host.paused) break;
      if (e.type === 'sync' && e.epoch !== host.epoch) continue;
      this.deliverTo(host, e);
    }
  }

  /** The liveness phase begins: every fault off, every node up. */
  private healAll(): void {
    this.healedAtUs = this.queue.nowUs;
    this.admin.disruptive = false;
    this.network.heal();
    this.network.setConfig({ ...calmNetwork, latencyMinUs: this.options.plan.network.latencyMinUs, latencyMeanUs: Math.min(this.options.plan.network.latencyMeanUs, 5000) });
    this.hosts.forEach((h, i) => {
      h.disk.setConfig({ ...calmDisk, syncLatencyMinUs: this.options.plan.disk.syncLatencyMinUs, syncLatencyMeanUs: this.options.plan.disk.syncLatencyMeanUs });
      this.drift[i] = 1;
      if (!h.up) this.restart(i);
      else if (h.paused) this.resume(i);
    });
    this.faults.forgetTargets();
  }

  /** How often each fault class actually fired. */
  faultsFired(): Record<FaultClassName, number> {
    return countFaults(this.network.fired, this.hosts.map((h) => h.disk.fired), this.fired);
  }

  faultDetail(): Record<string, number> {
    return faultDetail(this.network.fired, this.hosts.map((h) => h.disk.fired), this.fired, this.admin.fired);
  }

}
