// The orchestration world: three managers (the cluster store on Raft, reconciling while they lead),
// N workers (agent + container runtime), the operator, and the nemesis, all driven by one event
// queue in virtual time, like the key-value world (../cluster.ts). One seed fixes everything. A run
// has a safety phase (faults on, the operator changing things, the Raft checker watching every
// step, rolling-update availability sampled every 100 ms, every command a store applies and every
// reconcile pass checked, a failure thrown as OrchestrationSafetyError) and a liveness phase (every
// fault healed, every process up, drained nodes back to work, the operator idle: the cluster must
// reach its desired state within a bound). The checks are injected: sim cannot import chaos.

import { nodeId, type NodeId } from '../../core/raft/index.ts';
import { snapshot } from '../../core/state/index.ts';
import type { Service } from '../../core/state/types.ts';
import { SimDisk } from '../disk.ts';
import { maskPlan } from '../nemesis.ts';
import { EventQueue } from '../event-queue.ts';
import { Network } from '../network.ts';
import type { DiskRecord } from '../protocol.ts';
import type { ShellEnv } from '../raft-shell.ts';
import { Rng } from '../rng.ts';
import { TraceHash } from '../trace-hash.ts';
import { ManagerEndpoint } from '../../core/manager/endpoint.ts';
import { drawOrchestrationPlan, managerCount, type OrchestrationPlan } from './faults.ts';
import { ManagerHost, type ManagerWatch } from './manager.ts';
import { LoadClients } from './load.ts';
import { digest, observe, observeService, type CheckProblem } from './observe.ts';
import { Operator } from './operator.ts';
import { reapableTasks, type ReaperConfig } from '../../core/reconciler/index.ts';
import { Nemesis } from './world-faults.ts';
import { eventCodes, OrchestrationLivenessError, OrchestrationSafetyError, type OrchestrationResult, type OrchestrationWorldOptions, type WorldEvent } from './world-options.ts';
import { SimWorker, type WorkerEnv } from './worker.ts';

export { defaultWorldOptions, OrchestrationLivenessError, OrchestrationSafetyError } from './world-options.ts';
export type { OrchestrationResult, OrchestrationWorldOptions, WorldEvent } from './world-options.ts';

const tickUs = 100_000;
const electionTicks = 10;
const sampleEveryUs = 100_000;
const maxQueuedEvents = 2_000_000;
const mib = 1024 * 1024;

export class OrchestrationWorld {
  readonly queue = new EventQueue<WorldEvent>(maxQueuedEvents);
  readonly network: Network;
  readonly plan: OrchestrationPlan;
  readonly managers: ManagerHost[] = [];
  readonly endpoints: ManagerEndpoint[] = [];
  readonly workers: SimWorker[] = [];
  private readonly workerById = new Map<NodeId, SimWorker>();
  /** Machine ids: managers first, then workers. */
  readonly ids: NodeId[];
  readonly operator: Operator;
  readonly hash = new TraceHash();
  readonly nemesis: Nemesis;
  /** API clients bursting beyond the managers' admission limits (the load fault class). */
  readonly load: LoadClients;
  private readonly indexOf = new Map<NodeId, number>();
  healedAtUs = -1;
  events = 0;
  private reaping: { readonly host: ManagerHost; readonly epoch: number } | null = null;

  constructor(private readonly options: OrchestrationWorldOptions) {
    const rng = new Rng(options.seed);
    const machines = managerCount + options.workers;
    const plan = drawOrchestrationPlan(rng.child('nemesis'), machines, options.faults, options.durationUs);
    const mask = options.mask;
    this.plan = mask === null ? plan : { ...plan, machines: maskPlan(plan.machines, mask.events, mask.rates) };
    this.network = new Network(rng.child('network'), this.plan.machines.network);
    this.ids = [
      ...Array.from({ length: managerCount }, (_, i) => nodeId(`m${i + 1}`)),
      ...Array.from({ length: options.workers }, (_, i) => nodeId(`w${i + 1}`)),
    ];
    this.ids.forEach((id, i) => {
      this.indexOf.set(id, i);
      this.network.register(id);
    });
    this.buildManagers(rng);
    this.buildWorkers(rng);
    this.nemesis = new Nemesis(this, rng.child('process'));
    this.operator = new Operator(rng.child('operator'), {
      services: options.services,
      globalEvery: 40,
      workers: this.workers.map((w) => w.id),
      actEveryUs: options.operatorEveryUs,
      stopAtUs: options.durationUs,
      attemptTimeoutUs: 3_000_000,
      retryAfterUs: 200_000,
      maxAttempts: 50,
      maxQueuedGoals: Math.max(64, options.services + options.workers + 2),
      maxLogRecords: 100_000,
    }, {
      nowUs: () => this.queue.nowUs,
      store: () => this.leader()?.state ?? null,
      propose: (command, onDone) => {
        const leader = this.leader();
        if (leader === null) return false;
        leader.proposeClient(command, onDone);
        return true;
      },
      wakeAt: (atUs, token) => this.queue.schedule(atUs, { type: 'operator', token }),
    });
    this.load = new LoadClients(this.plan.load, rng.child('load-clients'), {
      nowUs: () => this.queue.nowUs,
      managers: this.ids.slice(0, managerCount),
      leaderIndex: () => this.leaderIndex(),
      send: (index, command, onDone) => this.managers[index]!.proposeClient(command, onDone),
      wakeAt: (atUs, burst) => this.queue.schedule(atUs, { type: 'load', burst }),
    });
  }

  private buildManagers(rng: Rng): void {
    const tuning = { ...this.plan.machines.tuning, ...this.options.tuning };
    const manager = this.options.manager;
    const managerConfig = { ...manager, reconciler: { ...manager.reconciler, bugs: this.options.bugs } };
    const env: ShellEnv = {
      nowUs: () => this.queue.nowUs,
      send: (msg) => this.route(msg.from, msg.to, (to) => ({ type: 'deliver', to, msg })),
      scheduleSync: (host, token) => {
        const node = this.indexOf.get(host.id)!;
        this.queue.schedule(token.doneAtUs, { type: 'sync', node, epoch: host.epoch, token });
      },
      observer: this.options.observer,
    };
    for (let i = 0; i < managerCount; i++) {
      const id = this.ids[i]!;
      const disk = new SimDisk<DiskRecord>(rng.child(`disk/${id}`), this.plan.machines.disk);
      const host = new ManagerHost(id, disk, rng.child(`host/${id}`), {
        electionTicks,
        maxMsgBytes: tuning.maxMsgBytes,
        maxInflightMsgs: tuning.maxInflightMsgs,
        preVote: tuning.preVote,
        checkQuorum: tuning.checkQuorum,
        snapshotChunkBytes: tuning.snapshotChunkBytes,
        snapshotEveryEntries: tuning.snapshotEveryEntries,
        keepEntriesAfterSnapshot: 50,
        raftBugs: this.options.raftBugs,
        ackBeforeSync: this.options.ackBeforeSync,
        pipelineEarlyReply: this.options.pipelineEarlyReply,
      }, env, managerConfig);
      host.watch = this.watch;
      this.managers.push(host);
      this.endpoints.push(new ManagerEndpoint(host));
    }
  }

  private buildWorkers(rng: Rng): void {
    const env: WorkerEnv = {
      nowUs: () => this.queue.nowUs,
      send: (worker, manager, msg) => this.route(worker.id, this.ids[manager]!, (to) => ({ type: 'to-manager', to, msg })),
      scheduleRuntime: (worker, atUs, event, ticket, origin) => this.queue.schedule(atUs, { type: 'runtime', worker: this.workerIndex(worker), event, ticket, origin }),
      scheduleWake: (worker, atUs) => this.queue.schedule(atUs, { type: 'wake', worker: this.workerIndex(worker), epoch: worker.epoch, atUs }),
    };
    const zones = ['a', 'b', 'c'];
    for (let i = 0; i < this.options.workers; i++) {
      const id = this.ids[managerCount + i]!;
      const registration = {
        name: id,
        resources: { cpuMillis: 4_000, memoryBytes: 8_192 * mib },
        labels: { zone: zones[i % zones.length]! },
        address: `10.0.1.${i + 1}:7946`,
      };
      const worker = new SimWorker(id, registration, managerCount, rng.child(`worker/${id}`), this.plan.runtime, this.options.worker, env);
      this.workers.push(worker);
      this.workerById.set(id, worker);
    }
  }

  /** The in-run checks on the managers' work: every command that took effect, every reconcile pass. */
  private readonly watch: ManagerWatch = {
    applied: (host, index, command, result) => {
      if (!result.ok) return;
      const problem = this.options.checks.appliedCommandProblem(command, host.state);
      if (problem !== null) this.safetyFailure(problem, `manager ${host.id} applying entry ${index}`);
    },
    reconciled: (host, commands) => {
      const problem = this.options.checks.reconcilePassProblem(host.state, commands);
      if (problem !== null) this.safetyFailure(problem, `a reconcile pass of leader ${host.id} (term ${host.term()})`);
    },
  };

  private safetyFailure(problem: CheckProblem, where: string): never {
    const nowUs = this.queue.nowUs;
    throw new OrchestrationSafetyError(problem.checker, `seed ${this.options.seed} at ${nowUs / 1e6} s, ${where}: ${problem.message}`, nowUs);
  }

  private workerIndex(worker: SimWorker): number {
    return this.indexOf.get(worker.id)! - managerCount;
  }

  /** Send through the network: each delivery (none, one, or a duplicate) becomes an event. */
  private readonly routeTimes: number[] = [];
  route(from: NodeId, to: NodeId, event: (toIndex: number) => WorldEvent): void {
    const out = this.routeTimes;
    out.length = 0;
    const n = this.network.route(from, to, this.queue.nowUs, out);
    if (n === 0) return;
    const index = this.indexOf.get(to)!;
    const target = index < managerCount ? index : index - managerCount;
    const e = event(target);
    for (let i = 0; i < n; i++) this.queue.schedule(out[i]!, e);
  }

  /** Run both phases; throws what the observer throws, and OrchestrationLivenessError past the bound. */
  run(): OrchestrationResult {
    const conf = { voters: this.ids.slice(0, managerCount), learners: [] };
    this.managers.forEach((m, i) => {
      m.bootstrap(conf);
      this.scheduleTick(i);
    });
    const beatRng = new Rng(`${this.options.seed}/beats`);
    this.workers.forEach((w, i) => this.queue.schedule(beatRng.int(1, this.options.worker.heartbeatEveryUs), { type: 'beat', worker: i, epoch: w.epoch }));
    this.plan.machines.events.forEach((e, index) => this.queue.schedule(e.atUs, { type: 'fault', index }));
    this.queue.schedule(this.options.durationUs, { type: 'heal' });
    this.queue.schedule(sampleEveryUs, { type: 'sample' });
    if (this.options.reaper !== null) this.queue.schedule(this.options.reaper.everyUs, { type: 'reap' });
    this.operator.start(500_000);
    this.load.start();
    this.runUntil(this.options.durationUs);
    const convergedAfterHealUs = this.runLiveness();
    const leader = this.leader()!;
    return {
      seed: this.options.seed,
      traceHash: this.hash.hex(),
      stateDigest: digest(snapshot(leader.state)),
      events: this.events,
      simSeconds: this.queue.nowUs / 1e6,
      convergedAfterHealUs,
      operator: this.operator.log,
      faultsFired: { ...this.nemesis.faultsFired(), ...this.load.counts() },
      load: this.load.records,
      parameters: this.plan.parameters,
    };
  }

  runUntil(endUs: number): void {
    while (this.queue.peekTimeUs() <= endUs) this.dispatch(this.queue.pop()!);
  }

  /** Check for convergence every 100 ms after the heal; the time it took, or throw past the bound. */
  private runLiveness(): number {
    const deadline = this.options.durationUs + this.options.livenessBoundUs;
    let problems: string[] = ['not checked yet'];
    for (let checkAt = this.queue.nowUs + sampleEveryUs; checkAt <= deadline; checkAt += sampleEveryUs) {
      this.runUntil(checkAt);
      const leader = this.leader();
      if (leader === null) problems = ['no leader'];
      else if (!this.operator.idle()) problems = ['the operator is still putting nodes back to work'];
      else problems = this.options.checks.convergenceProblems(observe(leader.state, this.workers));
      if (problems.length === 0) return checkAt - this.healedAtUs;
      if (leader !== null) this.operator.repairBroken(leader.state);
    }
    const shown = problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; and ${problems.length - 10} more` : '');
    throw new OrchestrationLivenessError(`seed ${this.options.seed}: not converged ${this.options.livenessBoundUs / 1e6} s after the heal: ${shown}`);
  }

  /** The live, running manager that leads the highest term, or null. */
  leader(): ManagerHost | null {
    let best: ManagerHost | null = null;
    for (const m of this.managers) {
      if (!m.up || m.paused || m.node.role() !== 'leader') continue;
      if (best === null || m.node.term() > best.node.term()) best = m;
    }
    return best;
  }

  leaderIndex(): number {
    const leader = this.leader();
    return leader === null ? -1 : this.managers.indexOf(leader);
  }

  scheduleTick(node: number): void {
    const host = this.managers[node]!;
    this.queue.schedule(this.queue.nowUs + Math.max(1, Math.round(tickUs / this.nemesis.drift[node]!)), { type: 'tick', node, epoch: host.epoch });
  }

  scheduleBeat(worker: number, afterUs: number): void {
    const w = this.workers[worker]!;
    this.queue.schedule(this.queue.nowUs + afterUs, { type: 'beat', worker, epoch: w.epoch });
  }

  private trace(e: WorldEvent): void {
    const node = 'node' in e ? e.node : 'worker' in e ? e.worker + managerCount : 'to' in e ? e.to : undefined;
    const extra = e.type === 'to-manager' || e.type === 'to-worker' ? e.msg.seq : e.type === 'fault' ? e.index : e.type === 'operator' ? e.token : undefined;
    this.hash.add(this.queue.nowUs, { type: e.type, node, client: extra, index: eventCodes[e.type], msg: e.type === 'deliver' ? e.msg : undefined });
    if (this.options.trace) this.options.trace(`${this.queue.nowUs} ${e.type}${node === undefined ? '' : ` ${node}`}${extra === undefined ? '' : ` #${extra}`}`);
  }

  private dispatch(e: WorldEvent): void {
    this.events++;
    this.trace(e);
    switch (e.type) {
      case 'tick': {
        const host = this.managers[e.node]!;
        if (!host.up || e.epoch !== host.epoch) return;
        this.scheduleTick(e.node);
        if (!host.paused) host.tick();
        return;
      }
      case 'deliver':
      case 'sync':
      case 'to-manager':
        return this.toManager(e);
      case 'to-worker':
      case 'wake':
        return this.toWorker(e);
      case 'runtime':
        return this.runtimeOutcome(e);
      case 'beat': {
        const w = this.workers[e.worker]!;
        if (!w.up || !w.agentUp || e.epoch !== w.epoch) return;
        this.scheduleBeat(e.worker, Math.max(1, Math.round(this.options.worker.heartbeatEveryUs / this.nemesis.drift[managerCount + e.worker]!)));
        if (!w.paused) w.heartbeat();
        return;
      }
      case 'restart':
        return this.nemesis.restart(e.machine);
      case 'fault':
        return this.nemesis.apply(e.index);
      case 'heal':
        return this.heal();
      case 'operator':
        return this.operator.wake(e.token);
      case 'load':
        return this.load.step(e.burst);
      case 'sample':
        this.sample();
        this.queue.schedule(this.queue.nowUs + sampleEveryUs, { type: 'sample' });
        return;
      case 'reap':
        this.reap(this.options.reaper!);
        this.queue.schedule(this.queue.nowUs + this.options.reaper!.everyUs, { type: 'reap' });
        return;
    }
  }

  private toManager(e: Extract<WorldEvent, { type: 'deliver' | 'sync' | 'to-manager' }>): void {
    const node = e.type === 'sync' ? e.node : e.to;
    const host = this.managers[node]!;
    if (!host.up || (e.type === 'sync' && e.epoch !== host.epoch)) return;
    if (host.paused) return this.nemesis.hold(node, e);
    this.deliverToManager(node, e);
    if (e.type === 'sync') this.nemesis.maybeCrashAfterSync(node);
  }

  deliverToManager(node: number, e: WorldEvent): void {
    const host = this.managers[node]!;
    if (e.type === 'deliver') host.receive(e.msg);
    else if (e.type === 'sync') host.syncDone(e.token);
    else if (e.type === 'to-manager') {
      const reply = this.endpoints[node]!.onHeartbeat(e.msg, this.queue.nowUs);
      this.route(host.id, e.msg.node, (to) => ({ type: 'to-worker', to, msg: reply }));
    }
  }

  private toWorker(e: Extract<WorldEvent, { type: 'to-worker' | 'wake' }>): void {
    const index = e.type === 'wake' ? e.worker : e.to;
    const w = this.workers[index]!;
    if (!w.up || !w.agentUp || (e.type === 'wake' && e.epoch !== w.epoch)) return;
    if (w.paused) return this.nemesis.hold(managerCount + index, e);
    this.deliverToWorker(index, e);
  }

  deliverToWorker(index: number, e: WorldEvent): void {
    const w = this.workers[index]!;
    if (e.type === 'wake') w.wake(e.atUs);
    else if (e.type === 'to-worker') w.receive(e.msg, (id) => this.indexOf.get(id) ?? -1);
    else if (e.type === 'runtime') w.onRuntimeEvent(e.event, e.origin);
  }

  private runtimeOutcome(e: Extract<WorldEvent, { type: 'runtime' }>): void {
    const w = this.workers[e.worker]!;
    // Once the faults are off, a crash the runtime drew earlier never happens.
    if (e.origin.kind === 'crash' && this.healedAtUs >= 0) return;
    // The runtime (a process of its own) takes the outcome even while the agent is down or stopped.
    if (!w.runtime.accept(e.event, e.ticket)) return;
    if (!w.up || !w.agentUp) return;
    if (w.paused) return this.nemesis.hold(managerCount + e.worker, e);
    this.deliverToWorker(e.worker, e);
  }

  /**
   * Ended tasks beyond the history kept, removed through the leader, one proposal at a time: the
   * next waits until this one is answered, or its manager crashed or stopped leading (no answer).
   */
  private reap(config: ReaperConfig): void {
    const inFlight = this.reaping;
    if (inFlight !== null && inFlight.host.epoch === inFlight.epoch && inFlight.host.isLeader()) return;
    this.reaping = null;
    const leader = this.leader();
    if (leader === null) return;
    const taskIds = reapableTasks(leader.state, config);
    if (taskIds.length === 0) return;
    const mine = { host: leader, epoch: leader.epoch };
    this.reaping = mine;
    leader.propose({ type: 'task-remove', taskIds, atUs: this.queue.nowUs }, () => {
      if (this.reaping === mine) this.reaping = null;
    });
  }

  /** Rolling updates in the leader's store, checked against what runs now. */
  private sample(): void {
    const leader = this.leader();
    if (leader === null) return;
    for (const service of leader.state.services()) {
      if (!updating(service)) continue;
      // The check reads only the service's own tasks and containers: observe just those.
      const problem = this.options.checks.updateAvailabilityProblem(observeService(leader.state, this.workerById, service), service);
      if (problem !== null) this.safetyFailure({ checker: 'update-availability', message: problem }, 'sampling the rolling updates');
    }
  }

  /** The liveness phase begins: every fault off, every process up, the operator done changing. */
  private heal(): void {
    this.healedAtUs = this.queue.nowUs;
    this.nemesis.healAll();
    this.operator.stopChanging();
  }
}

function updating(service: Service): boolean {
  const state = service.updateStatus?.state;
  return state === 'updating' || state === 'rolling-back';
}
