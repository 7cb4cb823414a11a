// Command-line options of `warren chaos run | replay`: declares them on the commander commands,
// parses and validates each value, and turns the parsed options into the RunPlan a command runs.
// Invariants: every value is validated here, once, as it is parsed; a bad one throws commander's
// InvalidArgumentError naming what is expected, so the CLI reports it as a usage error (exit 2).
// A RunPlan only ever holds validated values, with the runner's defaults filled in. Checks that
// need two options together (a fault class or a bug the workload does not have) are made once all
// are parsed, and fail with UsageError, which the CLI also reports as a usage error.

import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { MaskParseError, parseMask } from './mask.ts';
import { allFaultClasses, workloadFaultClasses, workloads } from './types.ts';
import type { ChaosOptions, FaultClass, FaultMask, Workload } from './types.ts';

export interface BugInfo {
  readonly name: string;
  readonly description: string;
  /** The workloads the bug can be planted in. */
  readonly workloads: readonly Workload[];
}

/** Options that are each valid but do not go together; the CLI exits 2 with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What option declarations need from the CLI's I/O: the defaults to show and the known bugs. */
export interface OptionSources {
  readonly defaults: ChaosOptions;
  readonly bugCatalog: readonly BugInfo[];
}

export { workloads };
export const nodesMax = 9;
export const seedsMax = 1_000_000;
export const durationSimSecondsMax = 86_400;
const seedsDefault = 20;

/** The plan one `run` or `replay` invocation executes, validated. */
export interface RunPlan {
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

export interface RawOptions {
  seed?: number;
  seeds?: number;
  from?: number;
  nodes: number;
  faults: FaultClass[] | 'all';
  duration: number;
  injectBug?: string[];
  workload: Workload;
  shrinkMask?: FaultMask;
  stopOnFirst?: boolean;
  history?: string;
  trace?: string;
  json?: boolean;
}

export function addRunOptions(run: Command, sources: OptionSources): void {
  run.addOption(new Option('--seed <N>', 'run this one seed').argParser(seedParser).conflicts(['seeds', 'from']));
  run.addOption(new Option('--seeds <COUNT>', `run COUNT seeds (default ${seedsDefault})`).argParser(integerParser(1, seedsMax)));
  run.addOption(new Option('--from <FIRST>', 'the first of --seeds (default 1)').argParser(seedParser));
  run.option('--stop-on-first', 'stop at the first failing seed');
  addSharedOptions(run, sources);
}

export function addReplayOptions(replay: Command, sources: OptionSources): void {
  replay.addOption(new Option('--seed <N>', 'the seed to replay').argParser(seedParser).makeOptionMandatory());
  addSharedOptions(replay, sources);
  replay.option('--trace <FILE>', 'write one line per simulated event to FILE');
}

function addSharedOptions(command: Command, sources: OptionSources): void {
  const { defaults } = sources;
  command
    .addOption(new Option('--nodes <N>', `kv: Raft nodes; orchestration: workers beside 3 managers; 1 to ${nodesMax}`).argParser(integerParser(1, nodesMax)).default(defaults.nodes))
    .addOption(new Option('--faults <all|LIST>', `all (the workload's classes), none, or a comma list of ${allFaultClasses.join(',')} (runtime and load: orchestration only)`).argParser(parseFaults).default('all', 'all'))
    .addOption(new Option('--duration <SIM_SECONDS>', 'simulated seconds of the faulty phase').argParser(integerParser(1, durationSimSecondsMax)).default(defaults.durationSimSeconds))
    .addOption(new Option('--inject-bug <NAME>', 'plant a known bug (see warren chaos bugs); repeatable').argParser(bugParser(sources.bugCatalog)))
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

function parseFaults(text: string): FaultClass[] | 'all' {
  if (text === 'all') return 'all';
  if (text === 'none') return [];
  const items = text.split(',');
  for (const item of items) {
    if (!(allFaultClasses as readonly string[]).includes(item)) {
      throw new InvalidArgumentError(
        `unknown fault class "${item}"; expected all, none, or a comma list of ${allFaultClasses.join(', ')}`,
      );
    }
  }
  return allFaultClasses.filter((faultClass) => items.includes(faultClass));
}

/** `--faults` for `workload`: all means the workload's classes; a class it does not have is a usage error. */
function resolveFaults(faults: FaultClass[] | 'all', workload: Workload): FaultClass[] {
  const classes = workloadFaultClasses[workload];
  if (faults === 'all') return [...classes];
  const foreign = faults.filter((c) => !classes.includes(c));
  if (foreign.length > 0) {
    throw new UsageError(`fault class ${foreign.join(', ')} does not apply to --workload ${workload}; its classes are ${classes.join(', ')}`);
  }
  return faults;
}

function checkBugs(bugs: readonly string[], workload: Workload, catalog: readonly BugInfo[]): void {
  for (const name of bugs) {
    const bug = catalog.find((b) => b.name === name);
    if (bug !== undefined && !bug.workloads.includes(workload)) {
      throw new UsageError(`bug "${name}" cannot be planted in --workload ${workload}; it applies to --workload ${bug.workloads.join(' or ')}`);
    }
  }
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

function parseWorkload(text: string): Workload {
  const workload = workloads.find((w) => w === text);
  if (workload === undefined) throw new InvalidArgumentError(`unknown workload "${text}"; known workloads: ${workloads.join(', ')}`);
  return workload;
}

function parseMaskOption(text: string): FaultMask {
  try {
    return parseMask(text);
  } catch (error) {
    if (error instanceof MaskParseError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

function baseOptions(raw: RawOptions, sources: OptionSources): ChaosOptions {
  const bugs = raw.injectBug ?? [];
  checkBugs(bugs, raw.workload, sources.bugCatalog);
  return {
    ...sources.defaults,
    workload: raw.workload,
    nodes: raw.nodes,
    faults: resolveFaults(raw.faults, raw.workload),
    durationSimSeconds: raw.duration,
    bugs,
    mask: raw.shrinkMask ?? null,
    trace: null,
  };
}

export function planFromRun(raw: RawOptions, sources: OptionSources): RunPlan {
  const single = raw.seed !== undefined;
  return {
    first: raw.seed ?? raw.from ?? 1,
    count: single ? 1 : (raw.seeds ?? seedsDefault),
    single,
    base: baseOptions(raw, sources),
    stopOnFirst: raw.stopOnFirst === true,
    historyPath: raw.history ?? null,
    tracePath: null,
    json: raw.json === true,
  };
}

export function planFromReplay(raw: RawOptions, sources: OptionSources): RunPlan {
  return {
    first: raw.seed ?? 0,
    count: 1,
    single: true,
    base: baseOptions(raw, sources),
    stopOnFirst: false,
    historyPath: raw.history ?? null,
    tracePath: raw.trace ?? null,
    json: raw.json === true,
  };
}
