// `warren chaos run | bugs | replay`: the edge where command-line text becomes ChaosOptions, seeds
// are run one after another, failures are shrunk, and results are reported for people (a progress
// line on a terminal, a block per failing seed, a summary) or for programs (exactly one JSON
// object as the last line of stdout). This file wires the commands and runs them; option parsing
// is in cli-options.ts and everything printed or written in cli-output.ts.
// Invariants: every usage error, commander's own included, exits 2 with a message on stderr that
// names the argument and what is expected; exit 1 means a seed failed; 0 means none did. All I/O
// goes through the injected ChaosIo, so tests drive the real parser with fake runners.

import { performance } from 'node:perf_hooks';
import { Command, CommanderError } from 'commander';
import { addReplayOptions, addRunOptions, planFromReplay, planFromRun, UsageError } from './cli-options.ts';
import type { BugInfo, RawOptions, RunPlan } from './cli-options.ts';
import {
  describeSeed, describeViolation, openFiles, printBugs, ProgressLine, rate, summaryJson, summaryText, writeHistory,
} from './cli-output.ts';
import type { FailingEntry, OpenFiles, TextSink, Totals } from './cli-output.ts';
import { workloadFaultClasses } from './types.ts';
import type { ChaosOptions, FaultClass, SeedResult, Violation } from './types.ts';

export { durationSimSecondsMax, nodesMax, seedsMax, workloads } from './cli-options.ts';
export type { BugInfo } from './cli-options.ts';
export type { TextSink } from './cli-output.ts';

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
// Commands

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
  addRunOptions(run, io);
  run.action(async (raw: RawOptions) => onRun(usage(run, () => planFromRun(raw, io))));

  const replay = chaos.command('replay').description('re-run one seed exactly, optionally writing its trace');
  addReplayOptions(replay, io);
  replay.action(async (raw: RawOptions) => onRun(usage(replay, () => planFromReplay(raw, io))));

  chaos
    .command('bugs')
    .description('list the bugs --inject-bug can plant')
    .option('--json', 'print a JSON array of {name, description}')
    .action((raw: { json?: boolean }) => printBugs(io, raw.json === true));
  return program;
}

/** A plan, or commander's usage error (exit 2) for options that do not go together. */
function usage(command: Command, plan: () => RunPlan): RunPlan {
  try {
    return plan();
  } catch (error) {
    if (error instanceof UsageError) command.error(`error: ${error.message}`, { exitCode: 2, code: 'chaos.usage' });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Running

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
    faultsFired: Object.fromEntries(workloadFaultClasses[plan.base.workload].map((c) => [c, 0])),
    convergence: [],
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
  for (const faultClass of Object.keys(totals.faultsFired) as FaultClass[]) totals.faultsFired[faultClass] = (totals.faultsFired[faultClass] ?? 0) + (result.faultsFired[faultClass] ?? 0);
  if (result.convergedAfterHealUs !== null) totals.convergence.push(result.convergedAfterHealUs / 1e6);
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
