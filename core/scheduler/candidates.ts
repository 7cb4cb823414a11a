// The candidate nodes of one batch, ordered by score without re-sorting after each placement.
// Score, best first: fewest tasks of the service on the node; then, per spread preference in turn,
// the value group with the fewest tasks of the service; then fewest tasks in total; then most free
// memory; then node id. (Per-node spread ranks above preferences, as issue 3 orders them; Docker
// Swarm ranks preferences first. Swapping them changes the bucket key, not the structure.)
// Structure: buckets by the node's count of the service's tasks (a placement moves a node up by
// exactly one bucket, so the lowest non-empty bucket only ever moves up); inside a bucket, a tree
// with one level per preference (children: the values); at its leaves, a binary heap by (total
// tasks, free memory, id). Picking costs a heap peek per tied group plus a pop; a placement touches
// only the chosen node and the counts of its groups.
// Invariant: every state in the structure is in exactly one leaf heap, that of its current bucket
// and group path.

import { assert } from '../assert.ts';
import type { NodeState } from './filters.ts';

/** Whether a ranks before b on the in-group part of the score. Ids are unique: a total order. */
export function leafBefore(a: NodeState, b: NodeState): boolean {
  if (a.totalTasks !== b.totalTasks) return a.totalTasks < b.totalTasks;
  if (a.freeMemoryBytes !== b.freeMemoryBytes) return a.freeMemoryBytes > b.freeMemoryBytes;
  return a.node.id < b.node.id;
}

class StateHeap {
  readonly #items: NodeState[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): NodeState | null {
    return this.#items[0] ?? null;
  }

  push(state: NodeState): void {
    const items = this.#items;
    let at = items.length;
    items.push(state);
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!leafBefore(items[at]!, items[parent]!)) break;
      [items[at], items[parent]] = [items[parent]!, items[at]!];
      at = parent;
    }
  }

  pop(): NodeState {
    const items = this.#items;
    assert(items.length > 0, 'pop from an empty candidate heap');
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let best = at;
        if (left < items.length && leafBefore(items[left]!, items[best]!)) best = left;
        if (right < items.length && leafBefore(items[right]!, items[best]!)) best = right;
        if (best === at) break;
        [items[at], items[best]] = [items[best]!, items[at]!];
        at = best;
      }
    }
    return top;
  }
}

/** A preference group inside one bucket; `heap` only at the leaves (depth = preference count). */
interface Group {
  readonly path: string;
  size: number;
  readonly children: Map<string, Group>;
  readonly heap: StateHeap | null;
}

const newGroup = (path: string, leaf: boolean): Group => ({ path, size: 0, children: new Map(), heap: leaf ? new StateHeap() : null });

export class Candidates {
  readonly #levels: number;
  /** Tasks of the service per group path, over every eligible node (not only the candidates). */
  readonly #groupTasks: Map<string, number>;
  readonly #buckets = new Map<number, Group>();
  #lowestBucket = Number.POSITIVE_INFINITY;
  #highestBucket = Number.NEGATIVE_INFINITY;
  #size = 0;

  /**
   * `levels` is the number of spread preferences; every state's `groupPaths` has that many
   * entries. `groupTasks` is shared with the caller and updated here on every placement.
   */
  constructor(states: readonly NodeState[], levels: number, groupTasks: Map<string, number>) {
    this.#levels = levels;
    this.#groupTasks = groupTasks;
    for (const state of states) this.insert(state);
  }

  insert(state: NodeState): void {
    assert(state.groupPaths.length === this.#levels, () => `node ${state.node.id} has ${state.groupPaths.length} group paths, expected ${this.#levels}`);
    const bucketKey = state.serviceTasks;
    let bucket = this.#buckets.get(bucketKey);
    if (bucket === undefined) {
      bucket = newGroup('', this.#levels === 0);
      this.#buckets.set(bucketKey, bucket);
    }
    let group: Group = bucket;
    group.size++;
    for (let depth = 0; depth < this.#levels; depth++) {
      const path = state.groupPaths[depth]!;
      let child: Group | undefined = group.children.get(path);
      if (child === undefined) {
        child = newGroup(path, depth === this.#levels - 1);
        group.children.set(path, child);
      }
      child.size++;
      group = child;
    }
    group.heap!.push(state);
    this.#size++;
    this.#lowestBucket = Math.min(this.#lowestBucket, bucketKey);
    this.#highestBucket = Math.max(this.#highestBucket, bucketKey);
  }

  /** The best candidate, or null when there is none. */
  best(): NodeState | null {
    if (this.#size === 0) return null;
    for (;;) {
      const bucket = this.#buckets.get(this.#lowestBucket);
      if (bucket !== undefined && bucket.size > 0) return this.#bestIn(bucket, 0);
      assert(this.#lowestBucket < this.#highestBucket, 'candidate buckets are empty while the size is not');
      this.#buckets.delete(this.#lowestBucket);
      this.#lowestBucket++;
    }
  }

  /** Removes `state`, which must be what best() returned, before the caller changes its counts. */
  take(state: NodeState): void {
    const bucket = this.#buckets.get(state.serviceTasks);
    assert(bucket !== undefined, () => `node ${state.node.id} is in no candidate bucket`);
    let group = bucket;
    group.size--;
    for (const path of state.groupPaths) {
      group = group.children.get(path)!;
      group.size--;
    }
    const taken = group.heap!.pop();
    assert(taken === state, () => `take(${state.node.id}) is not the best of its group (${taken.node.id} is)`);
    this.#size--;
  }

  /** Counts one more task of the service in each of the state's groups. */
  countPlacement(state: NodeState): void {
    for (const path of state.groupPaths) this.#groupTasks.set(path, (this.#groupTasks.get(path) ?? 0) + 1);
  }

  /**
   * Among children (groups of preference `depth`) with the fewest tasks of the service, the best
   * state; ties between groups are settled by their best states' remaining score (their groups'
   * tasks at the deeper preferences, then the in-group order), so the result is the minimum of the
   * full lexicographic score.
   */
  #bestIn(group: Group, depth: number): NodeState {
    if (group.heap !== null) return group.heap.peek()!;
    let fewest = Number.POSITIVE_INFINITY;
    let best: NodeState | null = null;
    for (const child of group.children.values()) {
      if (child.size === 0) continue;
      const tasks = this.#groupTasks.get(child.path) ?? 0;
      if (tasks > fewest) continue;
      const candidate = this.#bestIn(child, depth + 1);
      if (tasks < fewest || this.#before(candidate, best!, depth + 1)) best = candidate;
      fewest = tasks;
    }
    assert(best !== null, 'a non-empty candidate group has no non-empty child');
    return best;
  }

  /** Whether a ranks before b on the score from preference `depth` on. */
  #before(a: NodeState, b: NodeState, depth: number): boolean {
    for (let level = depth; level < this.#levels; level++) {
      const tasksA = this.#groupTasks.get(a.groupPaths[level]!) ?? 0;
      const tasksB = this.#groupTasks.get(b.groupPaths[level]!) ?? 0;
      if (tasksA !== tasksB) return tasksA < tasksB;
    }
    return leafBefore(a, b);
  }
}
