// `npm run bench -- NAME [--json]`: runs one benchmark from a fixed registry and prints its numbers,
// as a readable table or as exactly one JSON line (the benchmark's fields plus the benchmark name,
// the node version and the CPU count, so results from different machines can be compared).
// Invariants: an unknown name or bad arguments exit 2 listing what is known; a benchmark that
// throws exits 1; progress lines go to stderr, and only when stderr is a terminal.

import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';

export interface TextSink {
  write(text: string): unknown;
}

export interface BenchmarkArgs {
  readonly json: boolean;
  readonly progress: (line: string) => void;
}

/** What each benchmark module exports. */
export interface BenchmarkModule {
  run(args: BenchmarkArgs): Promise<Record<string, unknown>>;
}

/**
 * The registry: name → module path relative to this file. The path is not a literal `import()`
 * argument, so the registry type-checks before a benchmark's module exists; loadBenchmark checks
 * the module's shape when it is loaded instead.
 */
export const benchmarks: Readonly<Record<string, { readonly module: string; readonly description: string }>> = {
  failover: { module: './failover.ts', description: 'real 3-manager cluster: kill -9 of the leader to the first acknowledged write, 20 trials' },
  'manager-rss': { module: './manager-rss.ts', description: 'real 3-manager cluster: manager RSS with 1,000 services' },
  raft: { module: './raft.ts', description: 'the Raft core on its own' },
  'raft-real': { module: './raft-real.ts', description: 'real 3-manager cluster, fsync on: writes/s and latency at 1, 16 and 64 clients, beside 3 etcd members where installed' },
  reconcile: { module: './reconcile.ts', description: 'reconcile passes: 1,000 nodes, 1,000 services, 10,000 tasks; idle and 100 nodes down' },
  scheduler: { module: './scheduler.ts', description: 'task placement: 10,000 tasks on 1,000 nodes, and 100 services x 100 tasks' },
  sim: { module: './sim.ts', description: 'the simulated clusters: key-value under chaos, and an hour of orchestration (3 managers, 50 workers, 200 services)' },
};

export interface BenchIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Whether stderr is a terminal: only then are progress lines written. */
  readonly isTTY: boolean;
  /** Loads a registered benchmark; tests inject fakes. */
  readonly load?: (name: string) => Promise<BenchmarkModule>;
  readonly nodeVersion?: string;
  readonly cpuCount?: number;
}

/** Runs `bench ARGV...` and resolves to the exit code. */
export async function benchMain(argv: readonly string[], io: BenchIo): Promise<number> {
  let exitCode = 0;
  const known = Object.keys(benchmarks).sort();
  const program = new Command('bench')
    .usage('NAME [--json]')
    .description(`run one benchmark: ${known.join(', ')}`)
    .argument('[NAME]', `the benchmark: ${known.join(', ')}`)
    .option('--json', 'print only one JSON line: the results, benchmark name, node version and cpus')
    .addHelpText('after', `\nBenchmarks:\n${formatTable(known.map((name) => ['  ' + name, benchmarks[name].description] as const))}`)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .action(async (name: string | undefined, options: { json?: boolean }) => {
      exitCode = await runBenchmark(name, options.json === true, io, known);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
  }
  return exitCode;
}

async function runBenchmark(name: string | undefined, json: boolean, io: BenchIo, known: readonly string[]): Promise<number> {
  if (name === undefined) {
    io.stderr.write(`error: missing the benchmark NAME; known benchmarks: ${known.join(', ')}\n`);
    return 2;
  }
  if (!Object.hasOwn(benchmarks, name)) {
    io.stderr.write(`error: unknown benchmark '${name}'; known benchmarks: ${known.join(', ')}\n`);
    return 2;
  }
  const progress = (line: string): void => {
    if (io.isTTY) io.stderr.write(`${line}\n`);
  };
  let results: Record<string, unknown>;
  try {
    const module = await (io.load ?? loadBenchmark)(name);
    results = await module.run({ json, progress });
  } catch (error) {
    io.stderr.write(`error: benchmark '${name}' failed: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
  const nodeVersion = io.nodeVersion ?? process.version;
  const cpuCount = io.cpuCount ?? cpus().length;
  if (json) {
    io.stdout.write(`${JSON.stringify({ benchmark: name, ...results, node: nodeVersion, cpus: cpuCount })}\n`);
  } else {
    io.stdout.write(formatTable([['benchmark', name], ...Object.entries(results), ['node', nodeVersion], ['cpus', cpuCount]]));
  }
  return 0;
}

/** Imports a registered benchmark's module and checks that it exports `run`. */
export async function loadBenchmark(name: string): Promise<BenchmarkModule> {
  const entry = benchmarks[name];
  const url = new URL(entry.module, import.meta.url).href;
  const module: unknown = await import(url);
  const run = (module as { run?: unknown }).run;
  if (typeof run !== 'function') throw new TypeError(`${entry.module} does not export a run(args) function`);
  return module as BenchmarkModule;
}

/** Two aligned columns, field and value; objects are shown as JSON, fractions to three places. */
export function formatTable(rows: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...rows.map(([field]) => field.length));
  return rows.map(([field, value]) => `${field.padEnd(width)}  ${formatValue(value)}\n`).join('');
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

// Run when executed directly (`node --import tsx bench/cli.ts NAME`), not when imported by a test.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await benchMain(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: process.stderr.isTTY === true,
  });
}
