// A manager daemon's moving parts, assembled: the write-ahead log (adapters/storage), the Raft server
// on it (./raft-server.ts), the manager's control logic (core/manager: the cluster store, client
// proposals, the leader's reconcile passes), and one gRPC server on one port serving Raft between
// managers, the worker protocol and the client API (adapters/grpc), plus the observability port
// (/live /ready /health /metrics, adapters/observability); which managers exist and where is
// ./membership.ts's. The same core code the simulator runs;
// only the shell differs (wall-clock time, random ids, real disk and network).
// Invariants: the storage is opened (and recovered) before anything listens; shutdown() stops taking
// client requests first, hands leadership over when leading, then closes the listeners, waits for the
// Ready in flight and closes the storage, so nothing acknowledged is lost.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { defaultManagerConfig, Manager, type ManagerConfig, type ProposeCallback } from '../../core/manager/manager.ts';
import { ManagerEndpoint, type EndpointHost } from '../../core/manager/endpoint.ts';
import { nodeId, type RaftNode } from '../../core/raft/index.ts';
import type { StateCommand, TaskState } from '../../core/state/index.ts';
import { ApiServer, apiServerOptions, defaultApiServerLimits, type ApiManager } from '../grpc/api-server.ts';
import type { AppliedCommand } from '../grpc/api-events.ts';
import { resolveOptions, serverOptions, silentLogger, type TransportLogger } from '../grpc/options.ts';
import { RaftTransport } from '../grpc/raft-transport.ts';
import { bindServer, shutdownServer } from '../grpc/server.ts';
import { addWorkerService } from '../grpc/worker-service.ts';
import { DaemonMetrics, HealthServer, ManagerReadiness, notReady, type RaftSample } from '../observability/index.ts';
import { openStorage, type StorageOptions, type WalStorage } from '../storage/index.ts';
import { splitAddress } from './address.ts';
import { Membership, removedFrom } from './membership.ts';
import { defaultRaftServerOptions, RaftServer, type RaftServerOptions } from './raft-server.ts';

export interface ManagerProcessOptions {
  readonly id: string;
  readonly clusterId: string;
  readonly dataDir: string;
  /** host:port serving Raft, the worker protocol and the client API (port 0: the OS picks; see ports()). */
  readonly listen: string;
  /** host:port the other managers, workers and clients reach this one at. Default: listen, with the bound port. */
  readonly advertise?: string;
  /** The other managers' addresses (their advertised listen address), by id. */
  readonly peers: Readonly<Record<string, string>>;
  /** The initial voters when this node starts a new cluster with an empty data dir; null to join or restart. */
  readonly bootstrap: readonly string[] | null;
  /** The cluster's 32-byte key: secret values are sealed under it. */
  readonly secretKey: Buffer;
  /** host:port of /live /ready /health /metrics; null for none (tests). */
  readonly metricsListen?: string | null;
  readonly raft?: Partial<RaftServerOptions>;
  /** WAL options (tests inject a fault-injecting file system here). */
  readonly storage?: Partial<StorageOptions>;
  readonly manager?: ManagerConfig;
  /** A pino logger fits; default silent. */
  readonly logger?: TransportLogger;
}

/**
 * The daemon's Raft timing: a 5 ms tick, heartbeats every 10 ticks (50 ms) and an election after 50
 * to 100 ticks without one (250 to 500 ms), so a dead leader is replaced well within a second on a
 * LAN, even when two survivors time out together and split the vote. The fine tick spreads the
 * randomized timeouts over 50 values, which makes that rare (with 6 ticks of 50 ms, 1 election in
 * 7 took two rounds; with 30 of 10 ms, 1 in 20).
 */
export const daemonRaftOptions: RaftServerOptions = { ...defaultRaftServerOptions, tickMs: 5, electionTicks: 50, heartbeatTicks: 10 };

/** The daemon's defaults: a real cluster takes thousands of client writes per second. */
export const daemonManagerConfig: ManagerConfig = {
  ...defaultManagerConfig,
  reconcileEveryTicks: 20, // every 100 ms at the daemon's 5 ms tick
  admission: { ratePerSecond: 20_000, burst: 4_000, maxInFlight: 2_048 },
};

const nowUs = (): number => Date.now() * 1000;

/** Bound on calls in flight finishing when the manager's server shuts down. */
const SERVER_CLOSE_TIMEOUT_MS = 1000;

function bind(server: grpc.Server, address: string): Promise<number> {
  return bindServer(server, address, grpc.ServerCredentials.createInsecure()).catch((error: Error) => {
    throw new Error(`cannot listen on ${address}: ${error.message}`);
  });
}

/**
 * Answers (and so client responses) sent per turn of the event loop; the rest wait for the next
 * turn. A large batch committed at once is answered in parts, each flushed to the sockets before the
 * next is built, so clients send their next requests while the rest is still being answered
 * instead of the whole load moving through client and leader in lock step.
 */
const ANSWERS_PER_TURN = 32;
/** How often the leader looks for learners to promote. */
const PROMOTE_EVERY_TICKS = 20;

export class ManagerProcess {
  readonly manager: Manager;
  readonly server: RaftServer;
  readonly storage: WalStorage;
  readonly transport: RaftTransport;
  readonly api: ApiServer;
  readonly metrics: DaemonMetrics;
  private readonly grpcServer: grpc.Server;
  private health: HealthServer | null = null;
  private readonly membership: Membership;
  private readonly appliedListeners = new Set<(applied: AppliedCommand) => void>();
  private readonly readiness = new ManagerReadiness();
  private boundPorts = { listen: 0, metrics: 0 };
  private draining: string | null = null;
  private onRemoved!: () => void;
  private isRemoved = false;
  /** Resolves when this manager applies its own removal from the cluster: it should stop then. */
  readonly removed = new Promise<void>((resolve) => (this.onRemoved = resolve));
  private stopping: Promise<void> | null = null;
  private readonly log: TransportLogger;
  private readonly raftOptions: RaftServerOptions;
  private ticks = 0;
  private tickStartMs = 0;
  private answersScheduled = false;

  private constructor(readonly id: string, private readonly options: ManagerProcessOptions, storage: WalStorage, recovered: Awaited<ReturnType<typeof openStorage>>['recovered']) {
    this.log = options.logger ?? silentLogger;
    this.raftOptions = { ...daemonRaftOptions, ...options.raft };
    this.storage = storage;
    const self = nodeId(id);
    this.membership = new Membership(self, options.dataDir, options.peers, this.log);
    this.metrics = new DaemonMetrics({ nodeId: id });
    let server: RaftServer | null = null;
    this.manager = new Manager(self, () => server!.node, {
      nowUs,
      appliedIndex: () => server?.appliedTo() ?? 0,
      idSource: () => () => randomBytes(6).toString('hex'),
    }, options.manager ?? daemonManagerConfig);
    this.manager.watch = {
      applied: (manager, index, command, result) => {
        for (const listener of [...this.appliedListeners]) listener({ index, command, result });
        // Scheduling latency, once per cluster (on the leader): from a task's creation to its assignment.
        if (command.type === 'task-assign' && result.ok && manager.isLeader()) {
          for (const { taskId } of command.assignments) {
            const task = manager.state.task(taskId);
            if (task !== null) this.metrics.observeSchedulingLatency(Math.max(0, command.atUs - task.createdAtUs) / 1e6);
          }
        }
      },
      // A reconcile pass runs inside a tick (onTick below, which notes when the tick began).
      reconciled: () => this.metrics.observeSchedulerPass((performance.now() - this.tickStartMs) / 1000),
    };

    const transportDefaults = resolveOptions({ id: self, clusterId: options.clusterId, listen: options.listen, peers: new Map() });
    this.grpcServer = new grpc.Server({
      ...serverOptions(transportDefaults),
      'grpc.max_receive_message_length': Math.max(transportDefaults.maxFrameBytes, defaultApiServerLimits.maxRequestBytes),
      'grpc.max_send_message_length': apiServerOptions()['grpc.max_send_message_length'],
    });
    this.transport = new RaftTransport({
      id: self,
      clusterId: options.clusterId,
      listen: options.listen,
      peers: this.membership.all(),
      server: this.grpcServer,
      logger: this.log,
    });
    this.membership.sendPeersTo((peers) => this.transport.setPeers(peers));
    const manager = this.manager;
    server = new RaftServer(id, storage, recovered, (messages) => this.transport.send(messages), {
      restore: (data) => manager.restoreState(this.membership.restore(data)),
      snapshot: () => `${this.membership.snapshotHeader()}${manager.snapshotState()}`,
      onConf: (change) => {
        if (this.membership.onConf(change)) this.removedFromCluster('it applied its own removal');
      },
      apply: (entry) => {
        const startMs = performance.now();
        manager.apply(entry);
        this.metrics.observeApplyLatency((performance.now() - startMs) / 1000);
      },
      onTick: () => {
        this.tickStartMs = performance.now();
        manager.tick();
        if (manager.isLeader() && ++this.ticks % PROMOTE_EVERY_TICKS === 0) this.membership.promoteLearners();
      },
      onRoleChange: (role) => {
        manager.observeLeadership();
        this.log.info({ event: 'role', role, term: manager.term() }, `raft role ${role}`);
      },
      afterLoop: () => this.deliverAnswers(),
    }, this.raftOptions, {
      fatal: (error) => this.log.error({ event: 'storage-failed', error: error.message }, 'storage failed; writes refused until restart'),
      diskFull: (full) => (full
        ? this.log.error({ event: 'disk-full', dataDir: options.dataDir }, 'disk full: writes are held until space is freed; reads are still served')
        : this.log.info({ event: 'disk-has-room', dataDir: options.dataDir }, 'disk has room again: writes resumed')),
      snapshotFailed: (error) => this.log.warn({ event: 'snapshot-failed', error: error.message }, 'snapshot could not be saved'),
    });
    this.server = server;
    const raftServer = server;
    this.transport.onMessage((message) => {
      this.membership.heard(message.from, message.term);
      raftServer.receive(message);
    });
    this.membership.attach(raftServer, () => manager.isLeader());

    const host: EndpointHost = {
      id: self,
      epoch: 0,
      get node(): RaftNode {
        return raftServer.node;
      },
      get state() {
        return manager.state;
      },
      isLeader: () => manager.isLeader(),
      recordHeartbeat: (node, atUs) => manager.recordHeartbeat(node, atUs),
      propose: (command: StateCommand, onDone: ProposeCallback) => {
        manager.propose(command, onDone);
        raftServer.pump();
      },
      appliedTo: () => raftServer.appliedTo(),
    };
    const endpoint = new ManagerEndpoint(host);
    // Secrets are served from this manager's applied store, leader or not (ReadSecret, worker-service.ts).
    addWorkerService(this.grpcServer, options.clusterId, (heartbeat) => endpoint.onHeartbeat(heartbeat, nowUs()),
      { state: () => manager.state, secretKey: options.secretKey, logger: this.log });
    this.api = new ApiServer({
      manager: this.apiManager(),
      listen: options.listen,
      secretKey: options.secretKey,
      server: this.grpcServer,
      logger: this.log,
      onRequest: (method, code, seconds) => this.metrics.observeApiRequest(method, code, seconds),
    });
    this.metrics.collectFrom({
      raft: () => this.raftSample(),
      tasks: () => {
        const counts: Partial<Record<TaskState, number>> = {};
        for (const task of manager.state.tasks()) counts[task.observedState] = (counts[task.observedState] ?? 0) + 1;
        return counts;
      },
      storage: () => ({ metrics: storage.metrics(), state: storage.status().state }),
      transport: () => this.transport.stats(),
    });
  }

  static async start(options: ManagerProcessOptions): Promise<ManagerProcess> {
    const log = options.logger ?? silentLogger;
    const removed = removedFrom(options.dataDir);
    if (removed !== null) throw new Error(removed);
    let opened = await openStorage(options.dataDir, options.storage);
    if (options.bootstrap !== null && opened.recovered.snapshot === null && opened.recovered.entries.length === 0) {
      await opened.storage.bootstrap({ voters: options.bootstrap.map((v) => nodeId(v)), learners: [] });
      await opened.storage.close();
      opened = await openStorage(options.dataDir, options.storage);
    }
    for (const repair of opened.recovered.repairs) log.warn({ event: 'storage-repaired', repair }, 'storage repaired on recovery');
    const daemon = new ManagerProcess(options.id, options, opened.storage, opened.recovered);
    try {
      await daemon.transport.start();
      await daemon.api.start();
      const port = await bind(daemon.grpcServer, options.listen);
      daemon.boundPorts = { ...daemon.boundPorts, listen: port };
      daemon.membership.setOwnAddress(options.advertise ?? `${splitAddress(options.listen).host}:${port}`);
      if (options.metricsListen !== undefined && options.metricsListen !== null) {
        daemon.health = daemon.healthServer(options.metricsListen);
        daemon.boundPorts = { ...daemon.boundPorts, metrics: await daemon.health.start(splitAddress(options.metricsListen).port) };
      }
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    daemon.server.start();
    daemon.membership.watchForRemoval((how) => daemon.removedFromCluster(how));
    log.info({ event: 'started', port: daemon.boundPorts.listen, metricsPort: daemon.boundPorts.metrics, applied: daemon.server.appliedTo() }, `manager ${options.id} started`);
    return daemon;
  }

  /** The bound ports: `listen` (Raft, workers, API) and `metrics` (0 when not served). */
  ports(): { readonly listen: number; readonly metrics: number } {
    return this.boundPorts;
  }

  /** This manager's address for peers, workers and clients. */
  address(): string {
    return this.membership.address();
  }

  /** Every manager's address this manager knows, itself included, by id. */
  managers(): Record<string, string> {
    return Object.fromEntries(this.membership.all());
  }

  /** Tells this manager where the other managers are (a membership change, or ports learnt late). */
  setPeers(peers: Readonly<Record<string, string>>): void {
    this.membership.setPeers(peers);
  }

  /** A client request through this manager (the API's path): answered once applied, or refused. */
  proposeClient(command: StateCommand, onDone: ProposeCallback): void {
    const startMs = performance.now();
    this.manager.proposeClient(command, (outcome) => {
      if (outcome.ok) this.metrics.observeCommitLatency((performance.now() - startMs) / 1000);
      onDone(outcome);
    });
    this.server.pump();
  }

  isLeader(): boolean {
    return this.manager.isLeader();
  }

  /** Stop taking client requests: /ready and /health say draining, the API stops answering. */
  async stopAccepting(reason: string): Promise<void> {
    this.draining = reason;
    this.health?.markDraining(reason);
    await this.api.close();
  }

  /**
   * Hands leadership to the most up-to-date voter and waits until this manager no longer leads;
   * resolves at once when it does not lead, or is the only voter. Gives up (leaving this one the
   * leader) when aborted.
   */
  async transferLeadership(signal: AbortSignal): Promise<void> {
    while (this.isLeader() && !signal.aborted) {
      const voters = this.server.node.status().conf.voters;
      const target = this.server.node.progress()
        .filter((p) => p.id !== this.id && voters.includes(p.id))
        .sort((a, b) => b.match - a.match)[0];
      if (target === undefined) {
        this.log.info({ event: 'transfer-leadership', to: null }, 'no other voter to hand leadership to: the cluster stops with this manager');
        return;
      }
      const result = this.server.operate((node) => node.transferLeadership(target.id));
      if (!result.ok && result.code !== 'transfer-in-progress') throw new Error(`leadership transfer to ${target.id} refused: ${result.message}`);
      this.log.info({ event: 'transfer-leadership', to: target.id }, `handing leadership to ${target.id}`);
      const until = Date.now() + 2 * this.raftOptions.tickMs * this.raftOptions.electionTicks;
      while (this.isLeader() && !signal.aborted && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    }
    if (this.isLeader()) throw new Error('still the leader: the hand-over was aborted');
  }

  private removedFromCluster(how: string): void {
    if (this.isRemoved) return;
    this.isRemoved = true;
    this.membership.markRemoved();
    this.log.error({ event: 'removed', how }, `manager ${this.id} was removed from the cluster (${how}): stopping; its data directory cannot serve again`);
    this.onRemoved();
  }

  /** Stop listening, finish the write in flight, close the disk (idempotent). */
  stop(): Promise<void> {
    this.membership.stopWatching();
    this.stopping ??= (async () => {
      this.draining ??= 'stopping';
      await this.api.close();
      await this.transport.close();
      await shutdownServer(this.grpcServer, SERVER_CLOSE_TIMEOUT_MS);
      await this.server.stop();
      await this.storage.close();
      await this.health?.close();
    })();
    return this.stopping;
  }

  /** Delivers up to ANSWERS_PER_TURN answers now and the rest in later turns, oldest first. */
  private deliverAnswers(): void {
    if (this.answersScheduled || this.manager.deliverAnswers(ANSWERS_PER_TURN) === 0) return;
    this.answersScheduled = true;
    setImmediate(() => {
      this.answersScheduled = false;
      this.deliverAnswers();
    });
  }

  private raftSample(): RaftSample {
    const status = this.server.node.status();
    return { term: status.term, role: status.role, leader: status.leader, commit: status.commit, applied: this.server.appliedTo() };
  }

  private apiManager(): ApiManager {
    return {
      id: nodeId(this.id),
      state: () => this.manager.state,
      propose: (command, onDone) => this.proposeClient(command, onDone),
      leader: () => {
        const leader = this.server.node.leader();
        return leader === null ? null : this.membership.managerAddress(leader);
      },
      join: (id, address) => this.membership.join(id, address),
      removeManager: (id) => this.membership.remove(id),
      subscribe: (listener) => {
        this.appliedListeners.add(listener);
        return () => this.appliedListeners.delete(listener);
      },
      appliedIndex: () => this.server.appliedTo(),
      info: () => {
        const status = this.server.node.status();
        return {
          clusterId: this.options.clusterId,
          term: status.term,
          commitIndex: status.commit,
          appliedIndex: this.server.appliedTo(),
          managers: this.membership.memberAddresses(status.conf),
          removedManagers: this.membership.removed(),
        };
      },
    };
  }

  private healthServer(listen: string): HealthServer {
    return new HealthServer({
      nodeId: this.id,
      host: splitAddress(listen).host,
      metrics: this.metrics,
      logger: this.log,
      ready: () => {
        if (this.draining !== null) return notReady(`draining: ${this.draining}`);
        const storage = this.storage.status();
        // A full disk holds writes but reads are still served, so the manager stays ready (/health says why writes wait).
        if (storage.state === 'failed' || storage.state === 'closed') return notReady(`storage ${storage.state}${storage.reason ? `: ${storage.reason}` : ''}`);
        return this.readiness.check(this.raftSample());
      },
      checks: {
        raft: () => this.raftSample(),
        storage: () => ({ ...this.storage.status(), dataDir: this.options.dataDir }),
        transport: () => this.transport.stats(),
        api: () => ({ accepting: this.draining === null, reason: this.draining, inFlightRequests: this.api.stats().inFlight }),
      },
    });
  }
}
