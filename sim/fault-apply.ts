// One applier of a fault plan's events (./nemesis.ts) for every simulated world: the key-value
// cluster (./cluster.ts) and the orchestration world (./orchestration/world-faults.ts). The world
// says what its machines are and how each one crashes, pauses, restarts, resumes and ticks; the
// network faults, the bound on machines down at once and the pairing of a restart or resume with
// the machine its crash or pause hit are decided here, once.
// Invariants: a crash or pause never takes more than maxDown machines down, nor hits one already
// down; a restart or resume acts only on the machine its crash or pause hit, at most once.

import type { NodeId } from '../core/raft/index.ts';
import type { FaultEvent, Target } from './nemesis.ts';
import type { Network } from './network.ts';

export interface FaultMachines {
  readonly network: Network;
  /** Machine ids by number, as the plan's events number them. */
  readonly ids: readonly NodeId[];
  readonly maxDown: number;
  /** The machine a target names now ('leader': whoever leads, or a machine picked from the time). */
  resolve(target: Target): number;
  /** Crashed or paused (a machine, or the process a fault can hit on it). */
  isDown(machine: number): boolean;
  crash(machine: number): void;
  pause(machine: number): void;
  restart(machine: number): void;
  resume(machine: number): void;
  setDrift(machine: number, rate: number): void;
  /** The machine's clock jumps ahead by `ticks` ticks (ignored where no clock matters). */
  clockJump(machine: number, ticks: number): void;
}

export class FaultApplier {
  /** Which machine each crash/pause event hit, so its restart/resume finds it. */
  private readonly eventTarget = new Map<number, number>();

  constructor(private readonly m: FaultMachines) {}

  private downCount(): number {
    let n = 0;
    for (let i = 0; i < this.m.ids.length; i++) if (this.m.isDown(i)) n++;
    return n;
  }

  apply(index: number, f: FaultEvent): void {
    const { network, ids } = this.m;
    switch (f.kind) {
      case 'none':
        return;
      case 'partition':
        network.partition(f.groups.map((g) => g.map((i) => ids[i]!)));
        return;
      case 'isolate':
        network.partition([[ids[this.m.resolve(f.target)]!]]);
        return;
      case 'block-links':
        for (const [from, to] of f.links) network.blockLink(ids[from]!, ids[to]!);
        return;
      case 'slow-links':
        for (const [from, to] of f.links) network.slowLink(ids[from]!, ids[to]!, f.extraUs);
        return;
      case 'heal':
        network.heal();
        return;
      case 'crash':
      case 'pause': {
        const machine = this.m.resolve(f.target);
        if (this.m.isDown(machine) || this.downCount() >= this.m.maxDown) return;
        this.eventTarget.set(index, machine);
        if (f.kind === 'crash') this.m.crash(machine);
        else this.m.pause(machine);
        return;
      }
      case 'restart':
      case 'resume': {
        const machine = this.eventTarget.get(f.of);
        if (machine === undefined) return;
        this.eventTarget.delete(f.of);
        if (f.kind === 'restart') this.m.restart(machine);
        else this.m.resume(machine);
        return;
      }
      case 'drift':
        this.m.setDrift(f.node, f.rate);
        return;
      case 'clock-jump':
        this.m.clockJump(f.node, f.ticks);
        return;
    }
  }

  /** The heal: every pending restart or resume is void (the world brings everything up itself). */
  forgetTargets(): void {
    this.eventTarget.clear();
  }
}
