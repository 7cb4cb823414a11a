// `warren chaos run | bugs | replay`: the edge where command-line text becomes ChaosOptions, seeds
// are run one after another, failures are shrunk, and results are reported for people (a progress
// line on a terminal, a block per failing seed, a summary) or for programs (exactly one JSON
// object as the last line of stdout).
// Invariants: every usage error, commander's own included, exits 2 with a message on stderr that
// names the argument and what is expected; exit 1 means a seed failed; 0 means none did. All I/O
// goes through the injected ChaosIo, so tests drive the real parser with fake runners.

import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { historyToJsonLines } from './history-io.ts';
import { MaskParseError, parseMask } from './mask.ts';
import { faultClasses } from './types.ts';
import type { ChaosOptions, FaultClass, FaultMask, SeedResult, Violation } from './types.ts';

export interface TextSink {
  write(text: string): unknown;
}

export interface BugInfo {
  readonly name: string;
  readonly description: string;
}

export type RunSeed = (options: ChaosOptions) => SeedResult;
export type Shrink = (
  options: ChaosOptions,
  failing: SeedResult,
  onProgress?: (tried: number, kept: number) => void,
) => { options: ChaosOptions; result: SeedResult };

export interface ChaosIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Whether stderr is a terminal: only then is the progress line drawn. */
  readonly isTTY: boolean;
  readonly runSeed: RunSeed;
  readonly shrink: Shrink;
  readonly bugCatalog: readonly BugInfo[];
  /** The runner's defaults (nodes, faults, duration, ops per second) that options override. */
  readonly defaults: ChaosOptions;
  /** Wall-clock milliseconds; performance.now() unless a test pins it. */
  readonly now?: () => number;
}

export const workloads = ['kv'] as const;
export const nodesMax = 9;
export const seedsMax = 1_000_000;
export const durationSimSecondsMax = 86_400;
const seedsDefault = 20;
const progressIntervalMs = 100;
const traceBufferChars = 1 << 16;

/** The plan one `run` or `replay` invocation executes, validated. */
interface RunPlan {
  readonly first: number;
  readonly count: number;
  /** --seed or replay: report traceHash and parameters. */
  readonly single: boolean;
  readonly base: ChaosOptions;
  readonly stopOnFirst: boolean;
  readonly historyPath: string | null;
  readonly tracePath: string | null;
  readonly json: boolean;
}

interface FailingEntry {
  seed: number;
  violation: Violation;
  replay: string;
  shrunkReplay?: string;
}

/** Runs `warren chaos ARGV...` and resolves to the exit code. */
export async function chaosMain(argv: readonly string[], io: ChaosIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, async (plan) => {
    exitCode = await executePlan(plan, io);
  });
  try {
    await program.parseAsync(['chaos', ...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
  }
  return exitCode;
}

/** The real wiring: the runner, shrinker and bug catalog, process streams. */
export async function defaultChaosIo(): Promise<ChaosIo> {
  const [runner, shrinker, bugs] = await Promise.all([
    import('./runner.ts'),
    import('./shrink.ts'),
    import('./bugs.ts'),
  ]);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: process.stderr.isTTY === true,
    runSeed: runner.runSeed,
    shrink: shrinker.shrink,
    bugCatalog: bugs.bugCatalog,
    defaults: runner.defaultChaosOptions,
  };
}

export async function runChaosCli(argv: readonly string[]): Promise<number> {
  return chaosMain(argv, await defaultChaosIo());
}

// ---------------------------------------------------------------------------------------------
// Parsing

function buildProgram(io: ChaosIo, onRun: (plan: RunPlan) => Promise<void>): Command {
  const program = new Command('warren')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  const chaos = program.command('chaos').description('simulated chaos runs of the control plane');

  const run = chaos.command('run').description('run seeds of the simulated cluster under faults and check every run');
  run.addOption(new Option('--seed <N>', 'run this one seed').argParser(seedParser).conflicts(['seeds', 'from']));
  run.addOption(new Option('--seeds <COUNT>', `run COUNT seeds (default ${seedsDefault})`).argParser(integerParser(1, seedsMax)));
  run.addOption(new Option('--from <FIRST>', 'the first of --seeds (default 1)').argParser(seedParser));
  run.option('--stop-on-first', 'stop at the first failing seed');
  addSharedOptions(run, io);
  run.action(async (raw: RawOptions) => onRun(planFromRun(raw, io)));

  const replay = chaos.command('replay').description('re-run one seed exactly, optionally writing its trace');
  replay.addOption(new Option('--seed <N>', 'the seed to replay').argParser(seedParser).makeOptionMandatory());
  addSharedOptions(replay, io);
  replay.option('--trace <FILE>', 'write one line per simulated event to FILE');
  replay.action(async (raw: RawOptions) => onRun(planFromReplay(raw, io)));

  chaos
    .command('bugs')
    .description('list the bugs --inject-bug can plant')
    .option('--json', 'print a JSON array of {name, description}')
    .action((raw: { json?: boolean }) => printBugs(io, raw.json === true));
  return program;
}

interface RawOptions {
  seed?: number;
  seeds?: number;
  from?: number;
  nodes: number;
  faults: FaultClass[];
  duration: number;
  injectBug?: string[];
  workload: string;
  shrinkMask?: FaultMask;
  stopOnFirst?: boolean;
  history?: string;
  trace?: string;
  json?: boolean;
}

function addSharedOptions(command: Command, io: ChaosIo): void {
  const { defaults } = io;
  command
    .addOption(new Option('--nodes <N>', `cluster size, 1 to ${nodesMax} (Raft prefers odd)`).argParser(integerParser(1, nodesMax)).default(defaults.nodes))
    .addOption(new Option('--faults <all|LIST>', `all, none, or a comma list of ${faultClasses.join(',')}`).argParser(parseFaults).default([...defaults.faults], defaults.faults.length === faultClasses.length ? 'all' : defaults.faults.join(',')))
    .addOption(new Option('--duration <SIM_SECONDS>', 'simulated seconds of the faulty phase').argParser(integerParser(1, durationSimSecondsMax)).default(defaults.durationSimSeconds))
    .addOption(new Option('--inject-bug <NAME>', 'plant a known bug (see warren chaos bugs); repeatable').argParser(bugParser(io.bugCatalog)))
    .addOption(new Option('--workload <NAME>', `client workload: ${workloads.join(', ')}`).argParser(parseWorkload).default('kv', 'kv'))
    .addOption(new Option('--shrink-mask <SPEC>', 'run only part of the fault plan (as printed by the shrinker)').argParser(parseMaskOption))
    .option('--history <FILE>', 'write the client history as JSON lines to FILE')
    .option('--json', 'print one JSON object as the last line of stdout');
}

function integerParser(min: number, max: number, expected = `an integer from ${min} to ${max}`): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected ${expected}`);
    }
    return value;
  };
}

const seedParser = integerParser(0, Number.MAX_SAFE_INTEGER, 'a seed: an integer 0 or greater');

function parseFaults(text: string): FaultClass[] {
  if (text === 'all') return [...faultClasses];
  if (text === 'none') return [];
  const items = text.split(',');
  for (const item of items) {
    if (!(faultClasses as readonly string[]).includes(item)) {
      throw new InvalidArgumentError(
        `unknown fault class "${item}"; expected all, none, or a comma list of ${faultClasses.join(', ')}`,
      );
    }
  }
  return faultClasses.filter((faultClass) => items.includes(faultClass));
}

function bugParser(catalog: readonly BugInfo[]): (text: string, previous: string[] | undefined) => string[] {
  return (text, previous) => {
    if (!catalog.some((bug) => bug.name === text)) {
      const known = catalog.length === 0 ? '(none)' : catalog.map((bug) => bug.name).join(', ');
      throw new InvalidArgumentError(`unknown bug "${text}"; known bugs: ${known}`);
    }
    const bugs = previous ?? [];
    return bugs.includes(text) ? bugs : [...bugs, text];
  };
}

function parseWorkload(text: string): string {
  if (!(workloads as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`unknown workload "${text}"; known workloads: ${workloads.join(', ')}`);
  }
  return text;
}

function parseMaskOption(text: string): FaultMask {
  try {
    return parseMask(text);
  } catch (error) {
    if (error instanceof MaskParseError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

function baseOptions(raw: RawOptions, io: ChaosIo): ChaosOptions {
  return {
    ...io.defaults,
    nodes: raw.nodes,
    faults: raw.faults,
    durationSimSeconds: raw.duration,
    bugs: raw.injectBug ?? [],
    mask: raw.shrinkMask ?? null,
    trace: null,
  };
}

function planFromRun(raw: RawOptions, io: ChaosIo): RunPlan {
  const single = raw.seed !== undefined;
  return {
    first: raw.seed ?? raw.from ?? 1,
    count: single ? 1 : (raw.seeds ?? seedsDefault),
    single,
    base: baseOptions(raw, io),
    stopOnFirst: raw.stopOnFirst === true,
    historyPath: raw.history ?? null,
    tracePath: null,
    json: raw.json === true,
  };
}

function planFromReplay(raw: RawOptions, io: ChaosIo): RunPlan {
  return {
    first: raw.seed ?? 0,
    count: 1,
    single: true,
    base: baseOptions(raw, io),
    stopOnFirst: false,
    historyPath: raw.history ?? null,
    tracePath: raw.trace ?? null,
    json: raw.json === true,
  };
}

function printBugs(io: ChaosIo, json: boolean): void {
  if (json) {
    const bugs = io.bugCatalog.map(({ name, description }) => ({ name, description }));
    io.stdout.write(`${JSON.stringify(bugs)}\n`);
    return;
  }
  const width = Math.max(0, ...io.bugCatalog.map((bug) => bug.name.length));
  for (const bug of io.bugCatalog) io.stdout.write(`${bug.name.padEnd(width)}  ${bug.description}\n`);
}

// ---------------------------------------------------------------------------------------------
// Running

interface Totals {
  seeds: number;
  simSeconds: number;
  faultsFired: Record<FaultClass, number>;
  linearizability: { ok: number; violation: number; unknown: number };
  failing: FailingEntry[];
  historySource: SeedResult | null;
  last: SeedResult | null;
}

async function executePlan(plan: RunPlan, io: ChaosIo): Promise<number> {
  const now = io.now ?? (() => performance.now());
  const startedMs = now();
  let files: OpenFiles;
  try {
    files = openFiles(plan);
  } catch (error) {
    io.stderr.write(`warren chaos: ${(error as Error).message}\n`);
    return 2;
  }
  const progress = new ProgressLine(io, plan.json, now);
  const totals: Totals = {
    seeds: 0,
    simSeconds: 0,
    faultsFired: { network: 0, disk: 0, process: 0, clock: 0 },
    linearizability: { ok: 0, violation: 0, unknown: 0 },
    failing: [],
    historySource: null,
    last: null,
  };
  try {
    for (let index = 0; index < plan.count; index++) {
      const seed = plan.first + index;
      const options: ChaosOptions = { ...plan.base, seed, trace: files.trace?.line ?? null };
      let result: SeedResult;
      try {
        result = io.runSeed(options);
      } catch (error) {
        progress.clear();
        io.stderr.write(`warren chaos: seed ${seed}: the runner threw (a bug outside the checkers):\n${(error as Error).stack ?? String(error)}\n`);
        return 1;
      }
      addResult(totals, result);
      if (result.violation !== null) {
        progress.clear();
        totals.failing.push(reportFailure(plan, io, options, result, progress));
      } else if (plan.single && !plan.json) {
        io.stdout.write(describeSeed(result, `ok (linearizability ${result.linearizability})`));
      }
      if (plan.single && !plan.json) io.stdout.write(`  trace hash: ${result.traceHash}\n`);
      progress.update(`seed ${index + 1}/${plan.count}  violations ${totals.failing.length}  ${rate(index + 1, now() - startedMs)} seeds/s`, index + 1 === plan.count);
      if (result.violation !== null && plan.stopOnFirst) break;
    }
    progress.clear();
    files.trace?.flush();
    const historyNote = writeHistory(files, totals);
    const wallSeconds = (now() - startedMs) / 1000;
    if (plan.json) io.stdout.write(`${JSON.stringify(summaryJson(plan, totals, wallSeconds))}\n`);
    else io.stdout.write(summaryText(plan, totals, wallSeconds, historyNote));
    return totals.failing.length > 0 ? 1 : 0;
  } finally {
    files.close();
  }
}

function addResult(totals: Totals, result: SeedResult): void {
  totals.seeds++;
  totals.simSeconds += result.simSeconds;
  for (const faultClass of faultClasses) totals.faultsFired[faultClass] += result.faultsFired[faultClass] ?? 0;
  const verdict = result.linearizability;
  if (verdict === 'ok' || verdict === 'violation') totals.linearizability[verdict]++;
  else totals.linearizability.unknown++;
  totals.last = result;
  if (totals.historySource === null && result.violation !== null) totals.historySource = result;
}

function reportFailure(plan: RunPlan, io: ChaosIo, options: ChaosOptions, result: SeedResult, progress: ProgressLine): FailingEntry {
  const violation = result.violation as Violation;
  const entry: FailingEntry = { seed: result.seed, violation, replay: result.replay };
  if (!plan.json) io.stdout.write(describeSeed(result, `VIOLATION ${describeViolation(violation)}`));
  try {
    const shrunk = io.shrink({ ...options, trace: null }, result, (tried, kept) => {
      progress.update(`shrinking seed ${result.seed}: tried ${tried}, kept ${kept}`, false);
    });
    progress.clear();
    entry.shrunkReplay = shrunk.result.replay;
    if (!plan.json) {
      const still = shrunk.result.violation;
      io.stdout.write(`  shrunk replay: ${shrunk.result.replay}\n`);
      if (still !== null && (still.checker !== violation.checker || still.message !== violation.message)) {
        io.stdout.write(`  shrunk violation: ${describeViolation(still)}\n`);
      }
    }
  } catch (error) {
    progress.clear();
    io.stderr.write(`warren chaos: shrinking seed ${result.seed} failed: ${(error as Error).message}\n`);
  }
  return entry;
}

function describeViolation(violation: Violation): string {
  return `${violation.checker} at ${(violation.simTimeUs / 1e6).toFixed(6)}s sim: ${violation.message}`;
}

function describeSeed(result: SeedResult, verdict: string): string {
  const parameters = Object.entries(result.parameters).map(([name, value]) => `${name}=${value}`);
  const detail = Object.entries(result.faultDetail)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`);
  return [
    `seed ${result.seed}: ${verdict}`,
    `  parameters: ${parameters.join(' ') || '(none)'}`,
    `  faults fired: ${formatFaults(result.faultsFired)}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`,
    `  replay: ${result.replay}`,
  ].map((line) => `${line}\n`).join('');
}

function formatFaults(faults: Readonly<Record<FaultClass, number>>): string {
  return faultClasses.map((faultClass) => `${faultClass} ${faults[faultClass] ?? 0}`).join(', ');
}

function rate(seeds: number, elapsedMs: number): string {
  return elapsedMs > 0 ? ((seeds * 1000) / elapsedMs).toFixed(1) : '-';
}

function summaryJson(plan: RunPlan, totals: Totals, wallSeconds: number): Record<string, unknown> {
  const summary: Record<string, unknown> = {
    seeds: totals.seeds,
    violations: totals.failing.length,
    failing: totals.failing,
    simSeconds: totals.simSeconds,
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    faultsFired: totals.faultsFired,
    linearizability: totals.linearizability,
  };
  if (plan.single && totals.last !== null) {
    summary.traceHash = totals.last.traceHash;
    summary.parameters = totals.last.parameters;
  }
  return summary;
}

function summaryText(plan: RunPlan, totals: Totals, wallSeconds: number, historyNote: string | null): string {
  const last = plan.first + totals.seeds - 1;
  const range = totals.seeds === 1 ? `seed ${plan.first}` : `seeds ${plan.first}..${last}`;
  const stopped = totals.seeds < plan.count ? ', stopped at the first violation' : '';
  const { ok, violation, unknown } = totals.linearizability;
  const lines = [
    `${totals.seeds} seed${totals.seeds === 1 ? '' : 's'} (${range}${stopped}), violations ${totals.failing.length}`,
    `sim seconds ${totals.simSeconds.toFixed(1)}, wall seconds ${wallSeconds.toFixed(2)}`,
    `faults fired: ${formatFaults(totals.faultsFired)}`,
    `linearizability: ok ${ok}, violation ${violation}, unknown ${unknown}`,
  ];
  if (historyNote !== null) lines.push(historyNote);
  return lines.map((line) => `${line}\n`).join('');
}

// ---------------------------------------------------------------------------------------------
// Output files and the progress line

interface OpenFiles {
  readonly history: { readonly path: string; readonly fd: number } | null;
  readonly trace: { readonly line: (text: string) => void; readonly flush: () => void } | null;
  close(): void;
}

/** Opens the output files before any seed runs, so a bad path is a usage error, not a lost run. */
function openFiles(plan: RunPlan): OpenFiles {
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
function writeHistory(files: OpenFiles, totals: Totals): string | null {
  const source = totals.historySource ?? totals.last;
  if (files.history === null || source === null) return null;
  writeSync(files.history.fd, historyToJsonLines(source.history));
  const which = totals.historySource !== null ? 'the first failing seed' : totals.seeds === 1 ? 'the only seed' : 'the last seed; none failed';
  return `history: seed ${source.seed} (${which}) written to ${files.history.path}`;
}

/** One status line on a terminal's stderr, redrawn in place; silent otherwise. */
class ProgressLine {
  private shown = false;
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private readonly enabled: boolean;

  constructor(
    private readonly io: ChaosIo,
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
