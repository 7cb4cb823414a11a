// The nemesis: per-seed "swarm" draws of fault probabilities and a schedule of fault events, so that
// across seeds the runs cover many regimes (calm, a storm of drops, asymmetric partitions, crashing
// disks...). The plan is plain data: the shrinker removes events and zeroes rates by name, and the
// same plan always produces the same run. Every fault is recoverable: the liveness phase heals all.

import type { DiskConfig } from './disk.ts';
import type { NetworkConfig } from './network.ts';
import type { Rng } from './rng.ts';

export type FaultClassName = 'network' | 'disk' | 'process' | 'clock';

/** A target resolved when the event fires: a node by number, or whoever leads then. */
export type Target = number | 'leader';

export type FaultEvent =
  | { readonly kind: 'partition'; readonly atUs: number; readonly groups: readonly (readonly number[])[] }
  | { readonly kind: 'isolate'; readonly atUs: number; readonly target: Target }
  | { readonly kind: 'block-links'; readonly atUs: number; readonly links: readonly (readonly [number, number])[] }
  | { readonly kind: 'slow-links'; readonly atUs: number; readonly links: readonly (readonly [number, number])[]; readonly extraUs: number }
  | { readonly kind: 'heal'; readonly atUs: number }
  | { readonly kind: 'crash'; readonly atUs: number; readonly target: Target }
  /** Restart what the event numbered `of` crashed (or resume what it paused). */
  | { readonly kind: 'restart'; readonly atUs: number; readonly of: number }
  | { readonly kind: 'pause'; readonly atUs: number; readonly target: Target }
  | { readonly kind: 'resume'; readonly atUs: number; readonly of: number }
  | { readonly kind: 'drift'; readonly atUs: number; readonly node: number; readonly rate: number }
  | { readonly kind: 'clock-jump'; readonly atUs: number; readonly node: number; readonly ticks: number }
  /** An event the shrinker removed; kept in place so event numbers keep their meaning. */
  | { readonly kind: 'none'; readonly atUs: number };

export const faultEventClass: Record<Exclude<FaultEvent['kind'], 'none'>, FaultClassName> = {
  partition: 'network',
  isolate: 'network',
  'block-links': 'network',
  'slow-links': 'network',
  heal: 'network',
  crash: 'process',
  restart: 'process',
  pause: 'process',
  resume: 'process',
  drift: 'clock',
  'clock-jump': 'clock',
};

/** Raft and host tuning drawn per seed too: small batches and windows expose other interleavings. */
export interface Tuning {
  /** How often the simulated operator acts (membership changes, transfers); 0 = never. */
  readonly adminEveryUs: number;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly snapshotEveryEntries: number;
  readonly snapshotChunkBytes: number;
}

export interface FaultPlan {
  readonly tuning: Tuning;
  /** Probability that a node is killed right after a disk sync completes (a crash at a state change). */
  readonly crashAfterSyncRate: number;
  /** Restart delay after such a crash. */
  readonly crashAfterSyncRestartUs: number;
  readonly network: NetworkConfig;
  readonly disk: DiskConfig;
  /** Initial tick-rate multiplier of each node's clock (1 = true time). */
  readonly drift: readonly number[];
  /** At most this many nodes crashed or paused at once. */
  readonly maxDown: number;
  readonly events: readonly FaultEvent[];
  readonly parameters: Readonly<Record<string, number | string>>;
}

/** Rates the shrinker may switch off by name. */
export const rateNames = ['drop', 'duplicate', 'reorder', 'slowSync', 'tornWrite', 'bitFlip', 'full', 'drift', 'crashAfterSync'] as const;

export const calmNetwork: NetworkConfig = { latencyMinUs: 200, latencyMeanUs: 300, dropRate: 0, duplicateRate: 0, reorderRate: 0, reorderMaxUs: 0 };
export const calmDisk: DiskConfig = {
  syncLatencyMinUs: 100,
  syncLatencyMeanUs: 200,
  slowSyncRate: 0,
  slowSyncUs: 0,
  tornWriteRate: 0,
  bitFlipRate: 0,
  fullRate: 0,
  fullDurationUs: 0,
  capacityRecords: 1_000_000,
};

export function drawPlan(rng: Rng, nodes: number, faults: readonly FaultClassName[], durationUs: number): FaultPlan {
  const on = (c: FaultClassName) => faults.includes(c);
  const parameters: Record<string, number | string> = {};
  const network: NetworkConfig = on('network')
    ? {
        latencyMinUs: rng.int(100, 1000),
        latencyMeanUs: rng.pick([200, 1000, 5000, 20000]),
        dropRate: rng.pick([0, 0.01, 0.05, 0.2]),
        duplicateRate: rng.pick([0, 0.01, 0.1]),
        reorderRate: rng.pick([0, 0.05, 0.3]),
        reorderMaxUs: rng.int(1000, 50000),
      }
    : calmNetwork;
  const disk: DiskConfig = on('disk')
    ? {
        syncLatencyMinUs: rng.int(50, 500),
        syncLatencyMeanUs: rng.pick([100, 1000, 5000]),
        slowSyncRate: rng.pick([0, 0.01, 0.05]),
        slowSyncUs: rng.int(20_000, 300_000),
        tornWriteRate: rng.pick([0.2, 0.5, 0.9]),
        bitFlipRate: rng.pick([0, 0.3]),
        fullRate: rng.pick([0, 0.001, 0.005]),
        fullDurationUs: rng.int(50_000, 1_000_000),
        capacityRecords: 1_000_000,
      }
    : calmDisk;
  const drift = Array.from({ length: nodes }, () => (on('clock') ? Math.round(rng.range(0.85, 1.2) * 1000) / 1000 : 1));
  // Usually a minority may be down at once; some seeds allow all but one (or the single node itself).
  const crashAfterSyncRate = on('process') ? rng.pick([0, 0.002, 0.01, 0.05]) : 0;
  const crashAfterSyncRestartUs = rng.int(1_000, 50_000);
  parameters['proc.crashAfterSyncRate'] = crashAfterSyncRate;
  const maxDown = Math.max(1, rng.chance(0.7) ? Math.floor((nodes - 1) / 2) : nodes - 1);
  Object.assign(parameters, prefixed('net', network), prefixed('disk', disk), { maxDown, drift: drift.join(',') });
  const tuning: Tuning = {
    adminEveryUs: rng.pick([0, 1_000_000, 3_000_000]),
    maxMsgBytes: rng.pick([100, 1024, 4096, 65536]),
    maxInflightMsgs: rng.pick([1, 4, 64]),
    preVote: rng.chance(0.7),
    checkQuorum: rng.chance(0.7),
    snapshotEveryEntries: rng.pick([100, 300, 1000]),
    snapshotChunkBytes: rng.pick([256, 1024, 65536]),
  };
  Object.assign(parameters, prefixed('raft', tuning));
  const events: FaultEvent[] = [];
  // A single node has no links to cut; its network faults are the rates alone.
  if (on('network') && nodes > 1) drawNetworkEvents(rng, nodes, durationUs, events, parameters);
  if (on('process')) drawProcessEvents(rng, durationUs, events, parameters);
  if (on('clock')) drawClockEvents(rng, nodes, durationUs, events, parameters);
  const ordered = orderEvents(events);
  return { tuning, crashAfterSyncRate, crashAfterSyncRestartUs, network, disk, drift, maxDown, events: ordered, parameters };
}

function prefixed(prefix: string, config: object): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'number' && k !== 'capacityRecords') out[`${prefix}.${k}`] = v;
    else if (typeof v === 'boolean') out[`${prefix}.${k}`] = String(v);
  }
  return out;
}

/** Sort by time, keeping pairs pointing at the right event numbers. */
function orderEvents(events: FaultEvent[]): FaultEvent[] {
  const order = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.atUs - b.e.atUs || a.i - b.i);
  const newIndex = new Array<number>(events.length);
  order.forEach((o, at) => (newIndex[o.i] = at));
  return order.map(({ e }) => (e.kind === 'restart' || e.kind === 'resume' ? { ...e, of: newIndex[e.of]! } : e));
}

function poissonTimes(rng: Rng, meanIntervalUs: number, durationUs: number): number[] {
  const out: number[] = [];
  for (let t = rng.exponential(meanIntervalUs); t < durationUs && out.length < 10_000; t += rng.exponential(meanIntervalUs)) out.push(Math.floor(t));
  return out;
}

function drawNetworkEvents(rng: Rng, nodes: number, durationUs: number, events: FaultEvent[], parameters: Record<string, number | string>): void {
  const meanIntervalUs = rng.pick([1_000_000, 3_000_000, 8_000_000]);
  parameters['net.partitionEveryUs'] = meanIntervalUs;
  let busyUntil = 0;
  for (const atUs of poissonTimes(rng, meanIntervalUs, durationUs)) {
    if (atUs < busyUntil) continue;
    const healAtUs = atUs + rng.int(300_000, 4_000_000);
    busyUntil = healAtUs;
    const kind = rng.int(0, 4);
    if (kind === 0) {
      const ids = rng.shuffle(Array.from({ length: nodes }, (_, i) => i));
      const cut = rng.int(1, nodes - 1);
      events.push({ kind: 'partition', atUs, groups: [ids.slice(0, cut), ids.slice(cut)] });
    } else if (kind === 1) {
      events.push({ kind: 'isolate', atUs, target: rng.chance(0.6) ? 'leader' : rng.int(0, nodes - 1) });
    } else {
      const links: [number, number][] = [];
      const count = rng.int(1, Math.max(1, nodes));
      for (let i = 0; i < count; i++) {
        const from = rng.int(0, nodes - 1);
        const to = (from + rng.int(1, nodes - 1)) % nodes;
        links.push([from, to]);
      }
      if (kind === 4) events.push({ kind: 'slow-links', atUs, links, extraUs: rng.int(20_000, 500_000) });
      else events.push({ kind: 'block-links', atUs, links });
    }
    events.push({ kind: 'heal', atUs: healAtUs });
  }
}

function drawProcessEvents(rng: Rng, durationUs: number, events: FaultEvent[], parameters: Record<string, number | string>): void {
  const crashEveryUs = rng.pick([500_000, 2_000_000, 5_000_000]);
  const restartMaxUs = rng.pick([200_000, 1_000_000, 3_000_000]);
  parameters['proc.crashEveryUs'] = crashEveryUs;
  parameters['proc.restartMaxUs'] = restartMaxUs;
  for (const atUs of poissonTimes(rng, crashEveryUs, durationUs)) {
    const at = events.length;
    events.push({ kind: 'crash', atUs, target: rng.chance(0.4) ? 'leader' : rng.int(0, 64) });
    events.push({ kind: 'restart', atUs: atUs + rng.int(20_000, restartMaxUs), of: at });
  }
  const pauseEveryUs = rng.pick([0, 3_000_000, 10_000_000]);
  parameters['proc.pauseEveryUs'] = pauseEveryUs;
  if (pauseEveryUs === 0) return;
  for (const atUs of poissonTimes(rng, pauseEveryUs, durationUs)) {
    const at = events.length;
    events.push({ kind: 'pause', atUs, target: rng.chance(0.5) ? 'leader' : rng.int(0, 64) });
    events.push({ kind: 'resume', atUs: atUs + rng.int(100_000, 3_000_000), of: at });
  }
}

function drawClockEvents(rng: Rng, nodes: number, durationUs: number, events: FaultEvent[], parameters: Record<string, number | string>): void {
  const everyUs = rng.pick([2_000_000, 6_000_000]);
  parameters['clock.changeEveryUs'] = everyUs;
  for (const atUs of poissonTimes(rng, everyUs, durationUs)) {
    const node = rng.int(0, nodes - 1);
    if (rng.chance(0.5)) events.push({ kind: 'drift', atUs, node, rate: Math.round(rng.range(0.7, 1.4) * 1000) / 1000 });
    else events.push({ kind: 'clock-jump', atUs, node, ticks: rng.int(2, 15) });
  }
}

/** The plan with only the masked-in events and rates (the shrinker's reduction). */
export function maskPlan(plan: FaultPlan, events: readonly number[], rates: readonly string[]): FaultPlan {
  const keep = new Set(events);
  const rate = (name: string, value: number) => (rates.includes(name) ? value : 0);
  return {
    ...plan,
    network: { ...plan.network, dropRate: rate('drop', plan.network.dropRate), duplicateRate: rate('duplicate', plan.network.duplicateRate), reorderRate: rate('reorder', plan.network.reorderRate) },
    disk: { ...plan.disk, slowSyncRate: rate('slowSync', plan.disk.slowSyncRate), tornWriteRate: rate('tornWrite', plan.disk.tornWriteRate), bitFlipRate: rate('bitFlip', plan.disk.bitFlipRate), fullRate: rate('full', plan.disk.fullRate) },
    drift: rates.includes('drift') ? plan.drift : plan.drift.map(() => 1),
    crashAfterSyncRate: rate('crashAfterSync', plan.crashAfterSyncRate),
    events: plan.events.map((e, i): FaultEvent => (keep.has(i) ? e : { kind: 'none', atUs: e.atUs })),
  };
}
