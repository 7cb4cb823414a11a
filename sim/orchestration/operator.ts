// The simulated operator: creates services, then keeps changing them (new images, some broken so
// that the update rolls back; scaling; draining and re-activating a node; removing and re-creating a
// service), one goal at a time, through whichever manager leads. A goal is a wanted end state, not a
// command: each attempt reads the leader's store and proposes what is still missing (or finds it
// done), so a retry after an answer that was lost, or an outcome left unknown by a lost leadership,
// never does the work twice. Every goal is recorded with how it ended.
// Invariants: at most one goal in progress and one attempt in flight; the goal queue and the log
// are bounded; each goal is given up after maxAttempts attempts.

import type { StateCommand, StateView } from '../../core/state/index.ts';
import type { NodeAvailability, NodeId, ServiceId, ServiceSpec } from '../../core/state/types.ts';
import type { Rng } from '../rng.ts';
import type { ProposeOutcome } from './manager.ts';
import { serviceSpecs, type ServiceTemplateOptions } from './services.ts';

export type Goal =
  | { readonly kind: 'create'; readonly service: ServiceId; readonly spec: ServiceSpec }
  | { readonly kind: 'image'; readonly service: ServiceId; readonly image: string }
  | { readonly kind: 'scale'; readonly service: ServiceId; readonly replicas: number }
  | { readonly kind: 'availability'; readonly node: NodeId; readonly availability: NodeAvailability }
  | { readonly kind: 'remove'; readonly service: ServiceId }
  /** Off a broken image, onto `image`: a service whose failures were missed, or rolled back onto one. */
  | { readonly kind: 'repair'; readonly service: ServiceId; readonly image: string };

export interface OperatorRecord {
  readonly atUs: number;
  readonly goal: string;
  readonly outcome: 'done' | 'already' | 'skipped' | 'gave-up';
  readonly attempts: number;
  readonly detail: string;
}

export interface OperatorEnv {
  nowUs(): number;
  /** Propose through the manager leading now; false when none is known (nothing was proposed). */
  propose(command: StateCommand, onDone: (outcome: ProposeOutcome) => void): boolean;
  /** The store of the manager leading now, or null. */
  store(): StateView | null;
  /** Call `wake(token)` at `atUs`. */
  wakeAt(atUs: number, token: number): void;
}

export interface OperatorConfig extends ServiceTemplateOptions {
  readonly workers: readonly NodeId[];
  /** Mean pause between two goals. */
  readonly actEveryUs: number;
  /** No new goal is drawn after this time (the safety phase's end). */
  readonly stopAtUs: number;
  readonly attemptTimeoutUs: number;
  readonly retryAfterUs: number;
  readonly maxAttempts: number;
  readonly maxQueuedGoals: number;
  readonly maxLogRecords: number;
}

interface Current {
  readonly goal: Goal;
  attempts: number;
}

export class Operator {
  readonly log: OperatorRecord[] = [];
  private readonly queue: Goal[] = [];
  private current: Current | null = null;
  /** Tokens name wake-ups; only the latest one acts. */
  private token = 0;
  private changing = true;
  /** The services this operator made, by the id of their latest incarnation. */
  private readonly created: { base: string; id: ServiceId; spec: ServiceSpec; removed: boolean; generation: number }[] = [];
  private imageVersion = 1;

  constructor(private readonly rng: Rng, private readonly config: OperatorConfig, private readonly env: OperatorEnv) {}

  start(atUs: number): void {
    for (const [i, spec] of serviceSpecs(this.rng, this.config).entries()) {
      const id = `s${i + 1}` as ServiceId;
      this.created.push({ base: id, id, spec, removed: false, generation: 0 });
      this.enqueue({ kind: 'create', service: id, spec });
    }
    this.env.wakeAt(atUs, ++this.token);
  }

  /**
   * The liveness phase: no more changes, but undo what would keep the cluster from its desired
   * state for good: put drained nodes back to work, and move services off a broken image. An update
   * completes over a broken image when its failures reach the store only after the monitor period
   * (reports held up by the faults), or when it started with no live task; a rollback can also
   * land on one (broken, then a good image whose update failed under the faults).
   */
  stopChanging(): void {
    this.changing = false;
    this.queue.length = 0;
    for (const node of this.config.workers) this.enqueue({ kind: 'availability', node, availability: 'active' });
    const image = `app:${++this.imageVersion}`;
    for (const s of this.created) if (!s.removed) this.enqueue({ kind: 'repair', service: s.id, image });
    if (this.current === null) this.env.wakeAt(this.env.nowUs(), ++this.token);
  }

  /**
   * In the liveness phase, with nothing left to do but the cluster not converged: services on a
   * broken image that no update or rollback is moving get a repair goal. An update in flight at the
   * heal can end after the first repair, rolling back onto a broken spec. True when it queued one.
   */
  repairBroken(store: StateView): boolean {
    if (this.changing || !this.idle()) return false;
    const image = `app:${this.imageVersion + 1}`;
    for (const s of this.created) {
      const service = s.removed ? null : store.service(s.id);
      const moving = service?.updateStatus?.state === 'updating' || service?.updateStatus?.state === 'rolling-back';
      if (service !== null && service !== undefined && service.spec.image.endsWith(':broken') && !moving) this.enqueue({ kind: 'repair', service: s.id, image });
    }
    if (this.queue.length === 0) return false;
    this.imageVersion++;
    this.env.wakeAt(this.env.nowUs(), ++this.token);
    return true;
  }

  /** Nothing queued or in progress. */
  idle(): boolean {
    return this.current === null && this.queue.length === 0;
  }

  wake(token: number): void {
    if (token !== this.token) return;
    if (this.current === null) {
      if (this.queue.length === 0 && this.changing && this.env.nowUs() < this.config.stopAtUs) this.drawGoal();
      const goal = this.queue.shift();
      if (goal === undefined) {
        if (this.changing && this.env.nowUs() < this.config.stopAtUs) this.pauseThenAct();
        return;
      }
      this.current = { goal, attempts: 0 };
    }
    this.attempt(this.current);
  }

  private attempt(current: Current): void {
    const store = this.env.store();
    if (store === null) return this.retryLater();
    const step = derive(store, current.goal, this.env.nowUs());
    if (step.type !== 'propose') return this.finish(step.type === 'done' ? (current.attempts === 0 ? 'already' : 'done') : 'skipped', step.why);
    if (current.attempts >= this.config.maxAttempts) return this.finish('gave-up', `after ${current.attempts} attempts`);
    current.attempts++;
    const token = ++this.token;
    this.env.wakeAt(this.env.nowUs() + this.config.attemptTimeoutUs, token);
    const proposed = this.env.propose(step.command, (outcome) => {
      if (token !== this.token) return; // a late answer: the attempt already timed out
      // Success or not, the next attempt reads the store again and finds the goal done or not.
      // An overloaded manager says when to come back; sooner would only be shed again.
      const retryUs = outcome.ok ? 0 : Math.max(this.config.retryAfterUs, outcome.retryAfterUs ?? 0);
      this.env.wakeAt(this.env.nowUs() + retryUs, ++this.token);
    });
    if (!proposed) this.retryLater();
  }

  private retryLater(): void {
    this.env.wakeAt(this.env.nowUs() + this.config.retryAfterUs, ++this.token);
  }

  private finish(outcome: OperatorRecord['outcome'], detail: string): void {
    const current = this.current!;
    this.current = null;
    if (this.log.length < this.config.maxLogRecords) {
      this.log.push({ atUs: this.env.nowUs(), goal: describeGoal(current.goal), outcome, attempts: current.attempts, detail });
    }
    // While changing things, goals are spaced out, except the services created at the start.
    const next = this.queue[0];
    if (next !== undefined && (!this.changing || next.kind === 'create')) this.env.wakeAt(this.env.nowUs(), ++this.token);
    else if (this.changing) this.pauseThenAct();
  }

  private pauseThenAct(): void {
    const gapUs = Math.floor(this.config.actEveryUs / 2 + this.rng.exponential(this.config.actEveryUs / 2));
    this.env.wakeAt(this.env.nowUs() + gapUs, ++this.token);
  }

  private enqueue(goal: Goal): void {
    if (this.queue.length < this.config.maxQueuedGoals) this.queue.push(goal);
  }

  /** The next change, drawn from what the operator has made so far. */
  private drawGoal(): void {
    const live = this.created.filter((s) => !s.removed);
    const removed = this.created.filter((s) => s.removed);
    const roll = this.rng.float();
    if (roll < 0.4 && live.length > 0) {
      const s = this.rng.pick(live);
      const image = this.rng.chance(0.25) ? 'app:broken' : `app:${++this.imageVersion}`;
      this.enqueue({ kind: 'image', service: s.id, image });
    } else if (roll < 0.65 && live.length > 0) {
      const replicated = live.filter((s) => s.spec.mode.type === 'replicated');
      if (replicated.length > 0) this.enqueue({ kind: 'scale', service: this.rng.pick(replicated).id, replicas: this.rng.int(1, 6) });
    } else if (roll < 0.85) {
      const node = this.rng.pick(this.config.workers);
      this.enqueue({ kind: 'availability', node, availability: 'drain' });
      // Back to work a little later, unless the safety phase ends first (then the heal does it).
      this.enqueue({ kind: 'availability', node, availability: 'active' });
    } else if (removed.length > 0) {
      const s = removed[0]!;
      s.removed = false;
      s.generation++;
      // A new id: the removed service's tasks keep the old one until they are gone.
      s.id = `${s.base}-r${s.generation}` as ServiceId;
      this.enqueue({ kind: 'create', service: s.id, spec: s.spec });
    } else if (live.length > 1) {
      const s = this.rng.pick(live);
      s.removed = true;
      this.enqueue({ kind: 'remove', service: s.id });
    }
  }
}

type Step = { readonly type: 'done' | 'skip'; readonly why: string } | { readonly type: 'propose'; readonly command: StateCommand };

/** What is still missing for `goal` in `state`. */
function derive(state: StateView, goal: Goal, atUs: number): Step {
  switch (goal.kind) {
    case 'create': {
      if (state.service(goal.service) !== null) return { type: 'done', why: 'exists' };
      if (state.serviceByName(goal.spec.name) !== null) return { type: 'skip', why: `the name ${goal.spec.name} is taken` };
      return { type: 'propose', command: { type: 'service-create', id: goal.service, spec: goal.spec, atUs } };
    }
    case 'image': {
      const s = state.service(goal.service);
      if (s === null) return { type: 'skip', why: 'service gone' };
      if (s.spec.image === goal.image) return { type: 'done', why: `image ${goal.image}` };
      return { type: 'propose', command: { type: 'service-update', id: s.id, version: s.version, spec: { ...s.spec, image: goal.image }, atUs } };
    }
    case 'scale': {
      const s = state.service(goal.service);
      if (s === null || s.spec.mode.type !== 'replicated') return { type: 'skip', why: 'service gone or global' };
      if (s.spec.mode.replicas === goal.replicas) return { type: 'done', why: `${goal.replicas} replicas` };
      return { type: 'propose', command: { type: 'service-update', id: s.id, version: s.version, spec: { ...s.spec, mode: { type: 'replicated', replicas: goal.replicas } }, atUs } };
    }
    case 'availability': {
      const n = state.node(goal.node);
      if (n === null) return { type: 'skip', why: 'node not registered' };
      if (n.availability === goal.availability) return { type: 'done', why: goal.availability };
      return { type: 'propose', command: { type: 'node-update', id: n.id, version: n.version, availability: goal.availability, atUs } };
    }
    case 'remove':
      if (state.service(goal.service) === null) return { type: 'done', why: 'gone' };
      return { type: 'propose', command: { type: 'service-remove', id: goal.service, atUs } };
    case 'repair': {
      const s = state.service(goal.service);
      if (s === null) return { type: 'skip', why: 'service gone' };
      if (!s.spec.image.endsWith(':broken')) return { type: 'done', why: `image ${s.spec.image}` };
      return { type: 'propose', command: { type: 'service-update', id: s.id, version: s.version, spec: { ...s.spec, image: goal.image }, atUs } };
    }
  }
}

export function describeGoal(goal: Goal): string {
  switch (goal.kind) {
    case 'create': return `create ${goal.service} (${goal.spec.name}, ${goal.spec.mode.type === 'global' ? 'global' : `${goal.spec.mode.replicas} replicas`})`;
    case 'image': return `update ${goal.service} to ${goal.image}`;
    case 'scale': return `scale ${goal.service} to ${goal.replicas}`;
    case 'availability': return `set ${goal.node} ${goal.availability}`;
    case 'remove': return `remove ${goal.service}`;
    case 'repair': return `repair ${goal.service} with ${goal.image} if on a broken image`;
  }
}
