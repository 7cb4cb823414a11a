// The simulated packet network: decides the fate of each message (dropped, delivered once or twice,
// and when) from a seeded generator, a fault configuration and the current partitions.
// Invariants: every decision depends only on the seed, the configuration and the calls made; a
// delivery time is the send time plus a whole number of microseconds (>= latencyMinUs, rounded down); a partitioned or blocked message is
// dropped before any draw is made; counters in `fired` count faults that actually happened.
// There is no per-link FIFO: real networks reorder, and so does this one (by independent latencies,
// and more so with the reorder fault). Nothing is buffered here: the caller schedules deliveries.
// Partitions apply to registered nodes and to endpoints named in a partition or a blocked link;
// other endpoints (clients) always get through.

import type { Rng } from './rng.ts';

export interface NetworkConfig {
  /** Every message takes at least this long. */
  latencyMinUs: number;
  /** Mean of an exponential tail added to `latencyMinUs`. */
  latencyMeanUs: number;
  dropRate: number;
  duplicateRate: number;
  /** Probability that a message is held back by an extra delay drawn uniformly up to `reorderMaxUs`. */
  reorderRate: number;
  reorderMaxUs: number;
}

export interface NetworkFaultCounts {
  drop: number;
  duplicate: number;
  reorder: number;
  /** Messages dropped because a partition or a blocked link separated the endpoints. */
  partitionDrop: number;
  /** Partitions and link blocks applied. */
  partitions: number;
  /** Messages that crossed a slowed link. */
  slowed: number;
}

/** The group of registered nodes that a partition does not name; they keep talking to each other. */
const GROUP_UNNAMED = -1;

export class Network {
  readonly fired: NetworkFaultCounts = { drop: 0, duplicate: 0, reorder: 0, partitionDrop: 0, partitions: 0, slowed: 0 };
  private readonly rng: Rng;
  private config: NetworkConfig;
  /** Iterated only to put unnamed nodes in one group, which is the same in any order. */
  private readonly nodes = new Set<string>();
  /** Endpoint -> partition group, only while a partition is in force. */
  private readonly groupOf = new Map<string, number>();
  private partitioned = false;
  /** from -> set of `to` endpoints whose messages from `from` are dropped. */
  private readonly blocked = new Map<string, Set<string>>();
  private blockedCount = 0;
  /** `${from}>${to}` -> extra one-way delay of a slow link (a congested or lossy-retransmitting path). */
  private readonly slow = new Map<string, number>();

  constructor(rng: Rng, config: NetworkConfig) {
    this.rng = rng;
    this.config = validateConfig(config);
  }

  /** Faults may be switched on and off during a run (e.g. off for the liveness phase). */
  setConfig(config: NetworkConfig): void {
    this.config = validateConfig(config);
  }

  /**
   * Declares a cluster node: a node a partition does not name lands in the group of unnamed nodes
   * rather than talking to everyone.
   */
  register(nodeId: string): void {
    this.nodes.add(nodeId);
    if (this.partitioned && !this.groupOf.has(nodeId)) this.groupOf.set(nodeId, GROUP_UNNAMED);
  }

  /**
   * Decides the fate of one message sent at `nowUs`: pushes 0 (dropped), 1 or 2 (duplicated)
   * absolute delivery times onto `out` and returns how many. `out` is the caller's scratch array so
   * that the hot path allocates nothing.
   */
  route(fromId: string, toId: string, nowUs: number, out: number[]): number {
    if (this.isBlocked(fromId, toId)) {
      this.fired.partitionDrop++;
      return 0;
    }
    const config = this.config;
    if (this.rng.chance(config.dropRate)) {
      this.fired.drop++;
      return 0;
    }
    let extraUs = 0;
    if (this.slow.size > 0) {
      extraUs = this.slow.get(`${fromId}>${toId}`) ?? 0;
      if (extraUs > 0) this.fired.slowed++;
    }
    out.push(this.deliveryTimeUs(nowUs) + extraUs);
    if (!this.rng.chance(config.duplicateRate)) return 1;
    this.fired.duplicate++;
    out.push(this.deliveryTimeUs(nowUs) + extraUs);
    return 2;
  }

  /** Slow link: messages from `fromId` to `toId` take `extraUs` longer, until heal(). */
  slowLink(fromId: string, toId: string, extraUs: number): void {
    if (!(extraUs >= 0 && Number.isSafeInteger(extraUs))) throw new Error(`Network.slowLink: extraUs must be a non-negative integer, got ${extraUs}`);
    this.slow.set(`${fromId}>${toId}`, extraUs);
    this.fired.partitions++;
  }

  /**
   * Replaces any partition in force: endpoints in the same group talk, others do not. Registered
   * nodes not named form one more group together; unregistered, unnamed endpoints are not affected.
   */
  partition(groups: readonly (readonly string[])[]): void {
    this.groupOf.clear();
    for (let group = 0; group < groups.length; group++) {
      for (const id of groups[group] as readonly string[]) {
        if (this.groupOf.has(id)) throw new Error(`Network.partition: ${id} is named in more than one group`);
        this.groupOf.set(id, group);
      }
    }
    for (const id of this.nodes) {
      if (!this.groupOf.has(id)) this.groupOf.set(id, GROUP_UNNAMED);
    }
    this.partitioned = true;
    this.fired.partitions++;
  }

  /** Asymmetric fault: messages from `fromId` to `toId` are dropped; the reverse direction works. */
  blockLink(fromId: string, toId: string): void {
    let targets = this.blocked.get(fromId);
    if (targets === undefined) {
      targets = new Set();
      this.blocked.set(fromId, targets);
    }
    if (targets.has(toId)) return;
    targets.add(toId);
    this.blockedCount++;
    this.fired.partitions++;
  }

  unblockLink(fromId: string, toId: string): void {
    const targets = this.blocked.get(fromId);
    if (targets === undefined || !targets.delete(toId)) return;
    this.blockedCount--;
    if (targets.size === 0) this.blocked.delete(fromId);
  }

  /** Removes every partition, blocked link and slow link. */
  heal(): void {
    this.slow.clear();
    this.groupOf.clear();
    this.partitioned = false;
    this.blocked.clear();
    this.blockedCount = 0;
  }

  isBlocked(fromId: string, toId: string): boolean {
    if (this.partitioned) {
      const groupFrom = this.groupOf.get(fromId);
      if (groupFrom !== undefined) {
        const groupTo = this.groupOf.get(toId);
        if (groupTo !== undefined && groupTo !== groupFrom) return true;
      }
    }
    if (this.blockedCount === 0) return false;
    const targets = this.blocked.get(fromId);
    return targets !== undefined && targets.has(toId);
  }

  private deliveryTimeUs(nowUs: number): number {
    const config = this.config;
    let delayUs = config.latencyMinUs + this.rng.exponential(config.latencyMeanUs);
    if (this.rng.chance(config.reorderRate)) {
      this.fired.reorder++;
      delayUs += this.rng.range(0, config.reorderMaxUs);
    }
    return nowUs + Math.floor(delayUs);
  }
}

function validateConfig(config: NetworkConfig): NetworkConfig {
  for (const key of ['dropRate', 'duplicateRate', 'reorderRate'] as const) {
    const rate = config[key];
    if (!(rate >= 0 && rate <= 1)) throw new Error(`NetworkConfig.${key} must lie in [0, 1], got ${rate}`);
  }
  for (const key of ['latencyMinUs', 'latencyMeanUs', 'reorderMaxUs'] as const) {
    const us = config[key];
    if (!(us >= 0 && Number.isFinite(us))) throw new Error(`NetworkConfig.${key} must be finite and >= 0, got ${us}`);
  }
  return { ...config };
}
