// Simulated clients of the key-value workload. Each behaves as a real client would: it sends one
// operation at a time to the node it believes leads, follows leader hints, gives up after a timeout
// (recording the outcome as unknown and continuing under a new process id, as in Jepsen), and
// records every invoke and completion in the shared history.

import type { NodeId } from '../core/raft/index.ts';
import type { ClientOp, ClientReply, ClientRequest } from './protocol.ts';
import type { Rng } from './rng.ts';

export type HistoryType = 'invoke' | 'ok' | 'fail' | 'info';

/** The shape of chaos/history.ts's HistoryEvent (sim cannot import chaos). */
export interface ClientEvent {
  readonly process: number;
  readonly type: HistoryType;
  readonly op: ClientOp;
  readonly key: string;
  readonly value: string | null | readonly [string | null, string];
  readonly time: number;
}

export interface WorkloadConfig {
  readonly clients: number;
  readonly keys: number;
  /** Mean think time between one completion and the next invoke, per client. */
  readonly thinkMeanUs: number;
  readonly timeoutUs: number;
}

export interface ClientEnv {
  nowUs(): number;
  send(toNode: number, request: ClientRequest): void;
  wakeAt(atUs: number, client: number, seq: number): void;
  readonly nodeIds: readonly NodeId[];
}

interface Outstanding {
  readonly request: ClientRequest;
  readonly process: number;
}

/** Bound on history events per run, so a runaway workload fails loudly instead of eating memory. */
const maxHistoryEvents = 2_000_000;

export class Workload {
  readonly history: ClientEvent[] = [];
  readonly clients: SimClient[] = [];
  private nextProcess = 0;
  private nextRequestId = 1;
  stopped = false;
  okAfter = new Map<number, number>();

  constructor(readonly config: WorkloadConfig, rng: Rng, env: ClientEnv) {
    for (let i = 0; i < config.clients; i++) this.clients.push(new SimClient(i, this, rng.child(`client-${i}`), env));
  }

  newProcess(): number {
    return this.nextProcess++;
  }

  newRequestId(): number {
    return this.nextRequestId++;
  }

  record(event: ClientEvent): void {
    if (this.history.length >= maxHistoryEvents) throw new Error(`history exceeded ${maxHistoryEvents} events`);
    this.history.push(event);
  }

  start(): void {
    for (const c of this.clients) c.scheduleNext(0);
  }

  /** Operations outstanding right now (each will complete by reply or timeout). */
  outstanding(): number {
    let n = 0;
    for (const c of this.clients) if (c.outstanding) n++;
    return n;
  }
}

export class SimClient {
  process: number;
  target: number;
  outstanding: Outstanding | null = null;
  private seq = 0;
  private written = 0;
  /** Values recently seen per key, so cas has a fair chance to succeed. */
  private readonly seen = new Map<string, string | null>();
  okCount = 0;

  constructor(readonly index: number, private readonly workload: Workload, private readonly rng: Rng, private readonly env: ClientEnv) {
    this.process = workload.newProcess();
    this.target = rng.int(0, env.nodeIds.length - 1);
  }

  scheduleNext(delayUs: number): void {
    this.seq++;
    this.env.wakeAt(this.env.nowUs() + delayUs, this.index, this.seq);
  }

  /** A wake-up: either time to invoke the next operation, or the outstanding one timed out. */
  wake(seq: number): void {
    if (seq !== this.seq) return;
    if (this.outstanding) {
      this.complete('info', null);
      this.process = this.workload.newProcess();
      this.target = this.rng.int(0, this.env.nodeIds.length - 1);
      this.scheduleNext(this.think());
      return;
    }
    if (this.workload.stopped) return;
    this.invoke();
  }

  private think(): number {
    return Math.floor(this.rng.exponential(this.workload.config.thinkMeanUs));
  }

  private invoke(): void {
    const key = `k${this.rng.int(0, this.workload.config.keys - 1)}`;
    const roll = this.rng.float();
    const op: ClientOp = roll < 0.35 ? 'get' : roll < 0.65 ? 'put' : roll < 0.9 ? 'cas' : 'delete';
    const value = op === 'put' || op === 'cas' ? `${this.index}.${++this.written}` : null;
    const expected = op === 'cas' ? (this.rng.chance(0.2) ? null : this.seen.get(key) ?? null) : null;
    const deadlineUs = this.env.nowUs() + this.workload.config.timeoutUs;
    const request: ClientRequest = { id: this.workload.newRequestId(), client: this.index, op, key, value, expected, deadlineUs };
    this.outstanding = { request, process: this.process };
    this.workload.record({ process: this.process, type: 'invoke', op, key, value: historyValue(request), time: this.env.nowUs() });
    this.env.send(this.target, request);
    this.seq++;
    this.env.wakeAt(this.env.nowUs() + this.workload.config.timeoutUs, this.index, this.seq);
  }

  onReply(reply: ClientReply): void {
    const out = this.outstanding;
    if (!out || out.request.id !== reply.id) return; // a late answer to an operation already given up on
    if (reply.outcome === 'ok') {
      this.okCount++;
      const req = out.request;
      if (req.op === 'get') this.seen.set(req.key, reply.value);
      else if (req.op === 'delete') this.seen.set(req.key, null);
      else this.seen.set(req.key, req.value);
      this.complete('ok', req.op === 'get' ? reply.value : null);
      this.scheduleNext(this.think());
      return;
    }
    this.complete('fail', null);
    // Follow the node's leader hint; with none (refused, no leader known) try another node.
    const hinted = reply.leader === null ? -1 : this.env.nodeIds.indexOf(reply.leader);
    if (hinted >= 0) this.target = hinted;
    else this.target = (this.target + this.rng.int(1, Math.max(1, this.env.nodeIds.length - 1))) % this.env.nodeIds.length;
    this.scheduleNext(this.think());
  }

  private complete(type: HistoryType, readValue: string | null): void {
    const out = this.outstanding!;
    this.outstanding = null;
    const req = out.request;
    const value = req.op === 'get' ? (type === 'ok' ? readValue : null) : historyValue(req);
    this.workload.record({ process: out.process, type, op: req.op, key: req.key, value, time: this.env.nowUs() });
  }
}

function historyValue(req: ClientRequest): ClientEvent['value'] {
  switch (req.op) {
    case 'put':
      return req.value;
    case 'get':
    case 'delete':
      return null;
    case 'cas':
      return [req.expected, req.value!];
  }
}
