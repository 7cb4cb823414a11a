// A simulated operator that changes the cluster while it is under faults: transfers leadership,
// removes a voter (sometimes the leader itself), adds it back as a learner and promotes it once it
// has caught up. Requests go to whichever node leads at the time and are retried as an operator
// would; refusals (not leader, a change pending, a learner still behind) are expected. In the
// liveness phase it only restores full membership, which convergence then requires.

import type { ConfChange, NodeId } from '../core/raft/index.ts';
import type { SimHost } from './host.ts';
import type { Rng } from './rng.ts';

type Stage =
  | { readonly kind: 'idle' }
  | { readonly kind: 'removing'; readonly node: NodeId }
  | { readonly kind: 'adding-learner'; readonly node: NodeId }
  | { readonly kind: 'promoting'; readonly node: NodeId };

export interface AdminCounts {
  transfers: number;
  removals: number;
  learnersAdded: number;
  promotions: number;
}

export class Admin {
  private stage: Stage = { kind: 'idle' };
  readonly fired: AdminCounts = { transfers: 0, removals: 0, learnersAdded: 0, promotions: 0 };
  /** Safety phase only: after heal the operator just restores membership. */
  disruptive = true;

  constructor(private readonly rng: Rng, private readonly hosts: readonly SimHost[], private readonly leader: () => number) {}

  /** One step of the operator's loop; called every few simulated seconds. */
  step(): void {
    const at = this.leader();
    if (at < 0) return;
    const leader = this.hosts[at]!;
    const { voters, learners } = leader.node.status().conf;
    const propose = (change: ConfChange) => leader.operate((n) => n.proposeConfChange(change)).ok;
    const stage = this.stage;
    switch (stage.kind) {
      case 'idle':
        if (this.disruptive) this.startSomething(leader, voters);
        return;
      case 'removing':
        // Retried until the leader's applied membership no longer holds the node.
        if (voters.includes(stage.node) || learners.includes(stage.node)) {
          propose({ type: 'remove', node: stage.node });
          return;
        }
        this.stage = { kind: 'adding-learner', node: stage.node };
        if (propose({ type: 'add-learner', node: stage.node })) this.fired.learnersAdded++;
        return;
      case 'adding-learner':
        if (!learners.includes(stage.node)) {
          if (propose({ type: 'add-learner', node: stage.node })) this.fired.learnersAdded++;
          return;
        }
        this.stage = { kind: 'promoting', node: stage.node };
        if (propose({ type: 'add-voter', node: stage.node })) this.fired.promotions++;
        return;
      case 'promoting':
        if (voters.includes(stage.node)) this.stage = { kind: 'idle' };
        else if (propose({ type: 'add-voter', node: stage.node })) this.fired.promotions++;
        return;
    }
  }

  private startSomething(leader: SimHost, voters: readonly NodeId[]): void {
    if (this.rng.chance(0.5)) {
      const others = voters.filter((v) => v !== leader.id);
      if (others.length === 0) return;
      const to = this.rng.pick(others);
      if (leader.operate((n) => n.transferLeadership(to)).ok) this.fired.transfers++;
      return;
    }
    if (voters.length < 3) return;
    const target = this.rng.chance(0.3) ? leader.id : this.rng.pick(voters);
    if (leader.operate((n) => n.proposeConfChange({ type: 'remove', node: target })).ok) {
      this.fired.removals++;
      this.stage = { kind: 'removing', node: target };
    }
  }

  /** Full membership restored (every node a voter on the leader) and no change under way. */
  settled(allIds: readonly NodeId[]): boolean {
    const at = this.leader();
    if (at < 0 || this.stage.kind !== 'idle') return false;
    const voters = this.hosts[at]!.node.status().conf.voters;
    return allIds.every((id) => voters.includes(id));
  }
}
