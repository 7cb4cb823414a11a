// A simulated manager: the Raft shell (../raft-shell.ts) around the manager's control logic
// (core/manager: the cluster store as the state machine, proposals answered once applied, client
// admission, the leader's reconcile passes). This file only wires the two: the shell's Ready loop
// applies entries and ticks through the core's Manager, and a crash resets it. Ids for the leader's
// proposals are drawn from the seed, one stream per term, so runs replay exactly.

import type { Entry, NodeId, Role } from '../../core/raft/index.ts';
import { defaultManagerConfig, Manager, type ManagerConfig, type ManagerWatch, type ProposeCallback } from '../../core/manager/manager.ts';
import type { ClusterState, StateCommand } from '../../core/state/index.ts';
import type { SimDisk } from '../disk.ts';
import type { DiskRecord } from '../protocol.ts';
import { RaftShell, type ShellConfig, type ShellEnv } from '../raft-shell.ts';
import type { Rng } from '../rng.ts';

export { defaultManagerConfig, validateManagerConfig } from '../../core/manager/manager.ts';
export type { ManagerConfig, ManagerWatch, ProposeCallback, ProposeOutcome } from '../../core/manager/manager.ts';

const idDrawMax = 0xff_ffff; // 24 bits, six hex digits per draw

export class ManagerHost extends RaftShell {
  readonly manager: Manager;

  constructor(
    id: NodeId,
    disk: SimDisk<DiskRecord>,
    rng: Rng,
    shellConfig: ShellConfig,
    env: ShellEnv,
    config: ManagerConfig = defaultManagerConfig,
  ) {
    super(id, disk, rng, shellConfig, env);
    const idRoot = rng.child('manager/ids');
    this.manager = new Manager(id, () => this.node, {
      nowUs: () => env.nowUs(),
      appliedIndex: () => this.appliedIndex,
      idSource: (term) => {
        const ids = idRoot.child(`term-${term}`);
        return () => `${hexDraw(ids)}${hexDraw(ids)}`;
      },
    }, config);
  }

  get state(): ClusterState {
    return this.manager.state;
  }

  set watch(watch: ManagerWatch | null) {
    this.manager.watch = watch;
  }

  get reconcilePasses(): number {
    return this.manager.reconcilePasses;
  }

  get reconcileCommandsProposed(): number {
    return this.manager.reconcileCommandsProposed;
  }

  get reconcileCommandsRefused(): number {
    return this.manager.reconcileCommandsRefused;
  }

  protected restoreState(data: string): void {
    this.manager.restoreState(data);
  }

  protected snapshotState(): string {
    return this.manager.snapshotState();
  }

  protected applyCommand(entry: Entry): void {
    this.manager.apply(entry);
  }

  protected override onCrash(): void {
    // Nobody is answered: the process is gone, and its callers time out.
    this.manager.reset();
  }

  protected override onRoleChange(_role: Role): void {
    this.manager.observeLeadership();
  }

  protected override onTick(): void {
    this.manager.tick();
  }

  override pump(): void {
    super.pump();
    this.manager.deliverAnswers();
  }

  /** Propose `command` (see Manager.propose), then run the Ready loop. */
  propose(command: StateCommand, onDone: ProposeCallback): void {
    this.whileUp(onDone, () => this.manager.propose(command, onDone));
  }

  /** A client's request (see Manager.proposeClient), then the Ready loop. */
  proposeClient(command: StateCommand, onDone: ProposeCallback): void {
    this.whileUp(onDone, () => this.manager.proposeClient(command, onDone));
  }

  /** A down process answers nothing itself; here its caller learns at once that it is down. */
  private whileUp(onDone: ProposeCallback, call: () => void): void {
    if (!this.up) {
      onDone({ ok: false, error: `manager ${this.id} is down`, code: 'unavailable', leader: null });
      return;
    }
    call();
    this.afterStep();
  }

  admissionCounts(): { readonly admitted: number; readonly shed: number } {
    return this.manager.admissionCounts();
  }

  /** The leader heard from `node` at `atUs`; true when recorded (see Manager.recordHeartbeat). */
  recordHeartbeat(node: NodeId, atUs: number): boolean {
    if (!this.up) return false;
    return this.manager.recordHeartbeat(node, atUs);
  }

  isLeader(): boolean {
    return this.up && this.manager.isLeader();
  }

  pendingProposals(): number {
    return this.manager.pendingProposals();
  }
}

const hexDraw = (rng: Rng): string => rng.int(0, idDrawMax).toString(16).padStart(6, '0');
