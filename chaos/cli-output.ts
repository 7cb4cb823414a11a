// What `warren chaos` prints and writes: the per-seed blocks and summary for people, the one-line
// JSON summary for programs, the bug list, the --history and --trace files, and the progress line.
// Invariants: the JSON summary is one line (the caller prints nothing else to stdout with --json);
// the progress line goes to stderr only, and only on a terminal without --json; output files are
// opened before any seed runs, so a bad path is a usage error rather than a lost run; the trace
// buffer holds at most traceBufferChars before it is flushed.

import { closeSync, openSync, writeSync } from 'node:fs';
import { historyToJsonLines } from './history-io.ts';
import type { FaultClass, SeedResult, Violation } from './types.ts';
import type { BugInfo, RunPlan } from './cli-options.ts';

export interface TextSink {
  write(text: string): unknown;
}

const progressIntervalMs = 100;
const traceBufferChars = 1 << 16;

export interface FailingEntry {
  seed: number;
  violation: Violation;
  replay: string;
  shrunkReplay?: string;
}

/** The tally of the seeds run so far: what the summary reports and which history is written. */
export interface Totals {
  seeds: number;
  simSeconds: number;
  /** Per fault class of the workload, in the workload's order. */
  faultsFired: Partial<Record<FaultClass, number>>;
  /** Orchestration: each converged seed's time from the heal to the desired state, simulated seconds. */
  convergence: number[];
  linearizability: { ok: number; violation: number; unknown: number };
  failing: FailingEntry[];
  historySource: SeedResult | null;
  last: SeedResult | null;
}

export function printBugs(io: { readonly stdout: TextSink; readonly bugCatalog: readonly BugInfo[] }, json: boolean): void {
  if (json) {
    const bugs = io.bugCatalog.map(({ name, description, workloads }) => ({ name, description, workloads }));
    io.stdout.write(`${JSON.stringify(bugs)}\n`);
    return;
  }
  const width = Math.max(0, ...io.bugCatalog.map((bug) => bug.name.length));
  for (const bug of io.bugCatalog) io.stdout.write(`${bug.name.padEnd(width)}  ${bug.description} [${bug.workloads.join(', ')}]\n`);
}

export function describeViolation(violation: Violation): string {
  return `${violation.checker} at ${(violation.simTimeUs / 1e6).toFixed(6)}s sim: ${violation.message}`;
}

export function describeSeed(result: SeedResult, verdict: string): string {
  const parameters = Object.entries(result.parameters).map(([name, value]) => `${name}=${value}`);
  const detail = Object.entries(result.faultDetail)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`);
  return [
    `seed ${result.seed}: ${verdict}`,
    `  parameters: ${parameters.join(' ') || '(none)'}`,
    `  faults fired: ${formatFaults(result.faultsFired)}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`,
    ...(result.convergedAfterHealUs === null ? [] : [`  converged ${result.convergedAfterHealUs / 1e6} s after the heal`]),
    `  replay: ${result.replay}`,
  ].map((line) => `${line}\n`).join('');
}

function formatFaults(faults: Readonly<Partial<Record<FaultClass, number>>>): string {
  return Object.entries(faults).map(([faultClass, count]) => `${faultClass} ${count ?? 0}`).join(', ');
}

/** Convergence times after the heal: p50, p99 and max over the seeds that converged, simulated seconds. */
export function convergenceSummary(times: readonly number[]): { seeds: number; p50SimSeconds: number; p99SimSeconds: number; maxSimSeconds: number } | null {
  if (times.length === 0) return null;
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { seeds: sorted.length, p50SimSeconds: round(at(0.5)), p99SimSeconds: round(at(0.99)), maxSimSeconds: round(sorted[sorted.length - 1]!) };
}

export function rate(seeds: number, elapsedMs: number): string {
  return elapsedMs > 0 ? ((seeds * 1000) / elapsedMs).toFixed(1) : '-';
}

export function summaryJson(plan: RunPlan, totals: Totals, wallSeconds: number): Record<string, unknown> {
  const summary: Record<string, unknown> = {
    seeds: totals.seeds,
    violations: totals.failing.length,
    failing: totals.failing,
    simSeconds: totals.simSeconds,
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    faultsFired: totals.faultsFired,
  };
  if (plan.base.workload === 'kv') summary.linearizability = totals.linearizability;
  else summary.convergenceAfterHeal = convergenceSummary(totals.convergence);
  if (plan.single && totals.last !== null) {
    summary.traceHash = totals.last.traceHash;
    summary.parameters = totals.last.parameters;
  }
  return summary;
}

export function summaryText(plan: RunPlan, totals: Totals, wallSeconds: number, historyNote: string | null): string {
  const last = plan.first + totals.seeds - 1;
  const range = totals.seeds === 1 ? `seed ${plan.first}` : `seeds ${plan.first}..${last}`;
  const stopped = totals.seeds < plan.count ? ', stopped at the first violation' : '';
  const { ok, violation, unknown } = totals.linearizability;
  const lines = [
    `${totals.seeds} seed${totals.seeds === 1 ? '' : 's'} (${range}${stopped}), violations ${totals.failing.length}`,
    `sim seconds ${totals.simSeconds.toFixed(1)}, wall seconds ${wallSeconds.toFixed(2)}`,
    `faults fired: ${formatFaults(totals.faultsFired)}`,
  ];
  if (plan.base.workload === 'kv') lines.push(`linearizability: ok ${ok}, violation ${violation}, unknown ${unknown}`);
  else {
    const c = convergenceSummary(totals.convergence);
    lines.push(c === null ? 'convergence after heal: no seed converged' : `convergence after heal (simulated s, ${c.seeds} seeds): p50 ${c.p50SimSeconds}, p99 ${c.p99SimSeconds}, max ${c.maxSimSeconds}`);
  }
  if (historyNote !== null) lines.push(historyNote);
  return lines.map((line) => `${line}\n`).join('');
}

// ---------------------------------------------------------------------------------------------
// Output files and the progress line

export interface OpenFiles {
  readonly history: { readonly path: string; readonly fd: number } | null;
  readonly trace: { readonly line: (text: string) => void; readonly flush: () => void } | null;
  close(): void;
}

/** Opens the output files before any seed runs, so a bad path is a usage error, not a lost run. */
export function openFiles(plan: RunPlan): OpenFiles {
  const open = (flag: string, path: string): number => {
    try {
      return openSync(path, 'w');
    } catch (error) {
      throw new Error(`cannot write ${flag} ${path}: ${(error as Error).message}`);
    }
  };
  const descriptors: number[] = [];
  const historyFd = plan.historyPath === null ? null : open('--history', plan.historyPath);
  if (historyFd !== null) descriptors.push(historyFd);
  let trace: OpenFiles['trace'] = null;
  if (plan.tracePath !== null) {
    const fd = open('--trace', plan.tracePath);
    descriptors.push(fd);
    let buffer: string[] = [];
    let bufferedChars = 0;
    const flush = (): void => {
      if (buffer.length > 0) writeSync(fd, buffer.join(''));
      buffer = [];
      bufferedChars = 0;
    };
    const line = (text: string): void => {
      buffer.push(`${text}\n`);
      bufferedChars += text.length + 1;
      if (bufferedChars >= traceBufferChars) flush();
    };
    trace = { line, flush };
  }
  return {
    history: historyFd === null || plan.historyPath === null ? null : { path: plan.historyPath, fd: historyFd },
    trace,
    close: () => descriptors.forEach((fd) => closeSync(fd)),
  };
}

/** Writes the first failing seed's history, else the last seed's; returns the note saying which. */
export function writeHistory(files: OpenFiles, totals: Totals): string | null {
  const source = totals.historySource ?? totals.last;
  if (files.history === null || source === null) return null;
  // Key-value runs write the client history; orchestration runs, the operator's goals and the load requests.
  const text = source.operations.length > 0 ? source.operations.map((op) => `${JSON.stringify(op)}\n`).join('') : historyToJsonLines(source.history);
  writeSync(files.history.fd, text);
  const which = totals.historySource !== null ? 'the first failing seed' : totals.seeds === 1 ? 'the only seed' : 'the last seed; none failed';
  return `history: seed ${source.seed} (${which}) written to ${files.history.path}`;
}

/** One status line on a terminal's stderr, redrawn in place; silent otherwise. */
export class ProgressLine {
  private shown = false;
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private readonly enabled: boolean;

  constructor(
    private readonly io: { readonly stderr: TextSink; readonly isTTY: boolean },
    json: boolean,
    private readonly now: () => number,
  ) {
    this.enabled = io.isTTY && !json;
  }

  update(text: string, force: boolean): void {
    if (!this.enabled) return;
    const nowMs = this.now();
    if (!force && nowMs - this.lastDrawMs < progressIntervalMs) return;
    this.lastDrawMs = nowMs;
    this.io.stderr.write(`\r${text}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.io.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}
