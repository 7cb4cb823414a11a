// The load fault class: bursts of client requests well beyond what the managers admit. During a
// burst, API clients send small writes (each creates a secret of its own, so its effect can be
// looked up afterwards) at a drawn rate, mostly to the manager leading now and some to followers.
// The managers' admission control must shed what is over its limits at once, with an error that
// says so and when to retry, and changing nothing; what it admits must be applied and never lost.
// Every request's answer is recorded for the load checker (chaos/checkers/load.ts).
// Requests are sent in steps of stepUs, each step sending rate × step requests, so a burst of
// thousands of requests per second costs a hundred events per second, not thousands.
// Invariants: at most one record per request; records are bounded by maxRecords (further requests
// in a seed are not sent); a request's record changes from 'pending' at most once.

import type { StateCommand } from '../../core/state/index.ts';
import type { SecretId } from '../../core/state/types.ts';
import type { Rng } from '../rng.ts';
import type { ProposeOutcome } from './manager.ts';

export interface LoadBurst {
  readonly atUs: number;
  readonly durationUs: number;
  readonly ratePerSecond: number;
}

export interface LoadPlan {
  readonly bursts: readonly LoadBurst[];
}

export const noLoad: LoadPlan = { bursts: [] };

export const loadStepUs = 10_000;
const maxRecords = 50_000;
/** Of the requests, the fraction sent to the leader; the rest go to a manager picked at random. */
const toLeaderFraction = 0.9;

/** One to three bursts inside the faulty phase, each two to fifteen times what a manager admits. */
export function drawLoadPlan(rng: Rng, durationUs: number): LoadPlan {
  const count = rng.int(1, 3);
  const latestStartUs = Math.max(1_000_000, durationUs - 3_000_000);
  const bursts: LoadBurst[] = [];
  for (let i = 0; i < count; i++) {
    bursts.push({
      atUs: rng.int(1_000_000, latestStartUs),
      durationUs: rng.pick([300_000, 1_000_000, 2_000_000]),
      ratePerSecond: rng.pick([500, 1_000, 3_000]),
    });
  }
  bursts.sort((a, b) => a.atUs - b.atUs);
  return { bursts };
}

export type LoadOutcome = 'pending' | 'ok' | 'shed' | 'refused' | 'unknown';

export interface LoadRecord {
  /** The secret's id and name. */
  readonly name: string;
  readonly sentAtUs: number;
  readonly to: string;
  outcome: LoadOutcome;
  answeredAtUs: number;
  code: string;
  error: string;
  retryAfterUs: number;
}

export interface LoadEnv {
  nowUs(): number;
  /** Manager names, and the index of the one leading now (-1: none). */
  readonly managers: readonly string[];
  leaderIndex(): number;
  /** Send a client request to manager `index`; `onDone` is called at most once. */
  send(index: number, command: StateCommand, onDone: (outcome: ProposeOutcome) => void): void;
  /** Call `step(burst)` at `atUs`. */
  wakeAt(atUs: number, burst: number): void;
}

/** Outcome codes that leave a request's effect unknown: it may or may not be applied. */
const unknownCodes: ReadonlySet<string> = new Set(['leadership-lost', 'overwritten', 'unavailable']);

export class LoadClients {
  readonly records: LoadRecord[] = [];
  burstsFired = 0;
  private sent = 0;
  /** Requests due but not yet sent, carried over between steps (fractions of a request). */
  private readonly owed: number[];

  constructor(private readonly plan: LoadPlan, private readonly rng: Rng, private readonly env: LoadEnv) {
    this.owed = plan.bursts.map(() => 0);
  }

  start(): void {
    this.plan.bursts.forEach((b, i) => this.env.wakeAt(b.atUs, i));
  }

  /** One step of burst `index`: send what is due, then schedule the next step until the burst ends. */
  step(index: number): void {
    const burst = this.plan.bursts[index]!;
    const now = this.env.nowUs();
    if (now === burst.atUs) this.burstsFired++;
    this.owed[index]! += (burst.ratePerSecond * loadStepUs) / 1e6;
    while (this.owed[index]! >= 1 && this.records.length < maxRecords) {
      this.owed[index]! -= 1;
      this.sendOne(now);
    }
    if (now + loadStepUs < burst.atUs + burst.durationUs) this.env.wakeAt(now + loadStepUs, index);
  }

  private sendOne(now: number): void {
    const leader = this.env.leaderIndex();
    const to = leader >= 0 && this.rng.chance(toLeaderFraction) ? leader : this.rng.int(0, this.env.managers.length - 1);
    const name = `load-${++this.sent}`;
    const record: LoadRecord = { name, sentAtUs: now, to: this.env.managers[to]!, outcome: 'pending', answeredAtUs: -1, code: '', error: '', retryAfterUs: 0 };
    this.records.push(record);
    const command: StateCommand = { type: 'secret-create', id: name as SecretId, name, ciphertext: 'bG9hZA==', digest: `sha256:${name}`, atUs: now };
    this.env.send(to, command, (outcome) => {
      if (record.outcome !== 'pending') return;
      record.answeredAtUs = this.env.nowUs();
      if (outcome.ok) {
        record.outcome = 'ok';
        return;
      }
      record.code = outcome.code;
      record.error = outcome.error;
      record.retryAfterUs = outcome.retryAfterUs ?? 0;
      record.outcome = outcome.code === 'overloaded' ? 'shed' : unknownCodes.has(outcome.code) ? 'unknown' : 'refused';
    });
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = { 'load.bursts': this.burstsFired, 'load.sent': this.records.length, 'load.ok': 0, 'load.shed': 0, 'load.refused': 0, 'load.unknown': 0, 'load.pending': 0 };
    for (const r of this.records) out[`load.${r.outcome}`]!++;
    return out;
  }
}
