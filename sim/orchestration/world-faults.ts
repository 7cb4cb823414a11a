// The orchestration world's nemesis: applies the plan's machine faults (partitions and slow links
// between any machines, crashes and pauses of managers and workers, clock drift) and the heal.
// A crashed manager loses what its disk did not sync; a crashed worker loses either the whole
// machine (its containers die with it) or only its agent process (the runtime keeps running and the
// restarted agent adopts what it finds). A paused process holds what reaches it until it resumes.
// Invariants: at most plan.maxDown machines crashed or paused at once; a paused machine's backlog
// is bounded (messages beyond it are dropped, as a full socket buffer would); a restart or resume
// acts only on the machine its crash or pause hit.

import { FaultApplier } from '../fault-apply.ts';
import { calmDisk, calmNetwork } from '../nemesis.ts';
import type { Rng } from '../rng.ts';
import { calmRuntime } from '../runtime.ts';
import { managerCount } from './faults.ts';
import type { OrchestrationWorld } from './world.ts';
import type { WorldEvent } from './world-options.ts';

/** Bound on events held for one paused machine. */
const maxBacklogEvents = 100_000;

export interface MachineFaultCounts {
  managerCrash: number;
  workerMachineCrash: number;
  workerAgentCrash: number;
  restart: number;
  pause: number;
  drift: number;
  clockJump: number;
  backlogDropped: number;
}

export class Nemesis {
  readonly fired: MachineFaultCounts = { managerCrash: 0, workerMachineCrash: 0, workerAgentCrash: 0, restart: 0, pause: 0, drift: 0, clockJump: 0, backlogDropped: 0 };
  /** Tick-rate multiplier per machine (1 = true time). */
  readonly drift: number[];
  private readonly backlog: WorldEvent[][];
  private readonly faults: FaultApplier;

  constructor(private readonly world: OrchestrationWorld, private readonly rng: Rng) {
    this.drift = world.plan.machines.drift.slice();
    this.fired.drift = this.drift.filter((d) => d !== 1).length;
    this.backlog = world.ids.map(() => []);
    this.faults = new FaultApplier({
      network: world.network,
      ids: world.ids,
      maxDown: world.plan.machines.maxDown,
      resolve: (target) => this.resolve(target),
      isDown: (machine) => this.isDown(machine),
      crash: (machine) => this.crash(machine),
      pause: (machine) => this.pause(machine),
      restart: (machine) => this.restart(machine),
      resume: (machine) => this.resume(machine),
      setDrift: (machine, rate) => {
        this.drift[machine] = rate;
        this.fired.drift++;
      },
      clockJump: (machine, ticks) => {
        // A worker's clock only spaces its heartbeats; a jump matters to a manager's Raft ticks.
        if (machine >= managerCount) return;
        const host = this.world.managers[machine]!;
        if (!host.up || host.paused) return;
        this.fired.clockJump++;
        for (let i = 0; i < ticks; i++) host.tick();
      },
    });
  }

  private get machines(): number {
    return this.world.ids.length;
  }

  private isDown(machine: number): boolean {
    if (machine < managerCount) {
      const m = this.world.managers[machine]!;
      return !m.up || m.paused;
    }
    const w = this.world.workers[machine - managerCount]!;
    return !w.up || !w.agentUp || w.paused;
  }

  private downCount(): number {
    let n = 0;
    for (let i = 0; i < this.machines; i++) if (this.isDown(i)) n++;
    return n;
  }

  private resolve(target: number | 'leader'): number {
    if (target === 'leader') {
      const leader = this.world.leaderIndex();
      return leader >= 0 ? leader : this.world.queue.nowUs % this.machines;
    }
    return target % this.machines;
  }

  /** The next event of the plan. */
  apply(index: number): void {
    this.faults.apply(index, this.world.plan.machines.events[index]!);
  }

  private crash(machine: number): void {
    this.backlog[machine] = [];
    if (machine < managerCount) {
      this.world.managers[machine]!.crash();
      this.fired.managerCrash++;
      return;
    }
    const w = this.world.workers[machine - managerCount]!;
    if (this.rng.chance(this.world.plan.workerMachineCrashFraction)) {
      w.crashMachine();
      this.fired.workerMachineCrash++;
    } else {
      w.crashAgent();
      this.fired.workerAgentCrash++;
    }
  }

  private pause(machine: number): void {
    if (machine < managerCount) this.world.managers[machine]!.paused = true;
    else this.world.workers[machine - managerCount]!.paused = true;
    this.fired.pause++;
  }

  /** kill -9 of a manager right after a sync completed: the moment its state just changed. */
  maybeCrashAfterSync(node: number): void {
    const plan = this.world.plan.machines;
    const host = this.world.managers[node]!;
    if (this.world.healedAtUs >= 0 || !host.up || this.downCount() >= plan.maxDown) return;
    if (!this.rng.chance(plan.crashAfterSyncRate)) return;
    this.crash(node);
    this.world.queue.schedule(this.world.queue.nowUs + plan.crashAfterSyncRestartUs, { type: 'restart', machine: node });
  }

  restart(machine: number): void {
    if (machine < managerCount) {
      const host = this.world.managers[machine]!;
      if (host.up) return;
      host.start();
      this.world.scheduleTick(machine);
    } else {
      const worker = machine - managerCount;
      const w = this.world.workers[worker]!;
      if (w.up && w.agentUp) return;
      w.restart();
      this.world.scheduleBeat(worker, 1_000);
    }
    this.fired.restart++;
  }

  /** Hold an event for a paused machine. */
  hold(machine: number, e: WorldEvent): void {
    const backlog = this.backlog[machine]!;
    if (backlog.length >= maxBacklogEvents) {
      if (e.type === 'runtime' || e.type === 'sync') throw new Error(`machine ${machine}: backlog bound ${maxBacklogEvents} exceeded by a ${e.type} event`);
      this.fired.backlogDropped++;
      return;
    }
    backlog.push(e);
  }

  private resume(machine: number): void {
    const backlog = this.backlog[machine]!;
    this.backlog[machine] = [];
    if (machine < managerCount) {
      const host = this.world.managers[machine]!;
      if (!host.up || !host.paused) return;
      host.paused = false;
      for (const e of backlog) {
        if (!host.up || host.paused) break;
        if (e.type === 'sync' && e.epoch !== host.epoch) continue;
        this.world.deliverToManager(machine, e);
      }
      return;
    }
    const worker = machine - managerCount;
    const w = this.world.workers[worker]!;
    if (!w.paused) return;
    w.paused = false;
    if (!w.up || !w.agentUp) return;
    for (const e of backlog) {
      if (!w.up || !w.agentUp || w.paused) break;
      this.world.deliverToWorker(worker, e);
    }
    if (w.wakeAtUs <= this.world.queue.nowUs) w.wake(w.wakeAtUs); // what came due while it was stopped
  }

  /** Every fault off, every machine up and running. */
  healAll(): void {
    const plan = this.world.plan.machines;
    const network = this.world.network;
    network.heal();
    network.setConfig({ ...calmNetwork, latencyMinUs: plan.network.latencyMinUs, latencyMeanUs: Math.min(plan.network.latencyMeanUs, 5000) });
    for (const m of this.world.managers) m.disk.setConfig({ ...calmDisk, syncLatencyMinUs: plan.disk.syncLatencyMinUs, syncLatencyMeanUs: plan.disk.syncLatencyMeanUs });
    for (const w of this.world.workers) w.runtime.setConfig({ ...calmRuntime });
    for (let i = 0; i < this.machines; i++) {
      this.drift[i] = 1;
      this.restart(i);
      this.resume(i);
    }
    this.faults.forgetTargets();
  }

  faultsFired(): Record<string, number> {
    const out: Record<string, number> = { ...this.world.network.fired, ...this.fired };
    for (const m of this.world.managers) for (const [k, v] of Object.entries(m.disk.fired)) out[`disk.${k}`] = (out[`disk.${k}`] ?? 0) + v;
    for (const w of this.world.workers) for (const [k, v] of Object.entries(w.runtime.fired)) out[`runtime.${k}`] = (out[`runtime.${k}`] ?? 0) + v;
    return out;
  }
}
