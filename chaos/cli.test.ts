// The chaos CLI's contract (README.md): arguments, exit codes, output shapes. The runner and the
// shrinker are test doubles, so these tests prove the CLI, not the simulator.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { chaosMain } from './cli.ts';
import type { ChaosIo } from './cli.ts';
import { parseHistoryJsonLines } from './history-io.ts';
import type { HistoryEvent } from './history.ts';
import type { ChaosOptions, SeedResult } from './types.ts';

const defaults: ChaosOptions = {
  seed: 0,
  workload: 'kv',
  nodes: 5,
  faults: ['network', 'disk', 'process', 'clock'],
  durationSimSeconds: 20,
  bugs: [],
  opsPerSecond: 100,
  mask: null,
  trace: null,
};

const bugCatalog = [
  { name: 'commit-old-term', description: 'commit an entry of an earlier term by counting replicas', workloads: ['kv', 'orchestration'] as const },
  { name: 'skip-fsync', description: 'acknowledge before sync', workloads: ['kv'] as const },
  { name: 'double-slot', description: 'two tasks in one slot', workloads: ['orchestration'] as const },
];

function historyOf(seed: number): HistoryEvent[] {
  return [
    { process: seed, type: 'invoke', op: 'put', key: 'k1', value: `v${seed}`, time: 10 },
    { process: seed, type: 'ok', op: 'put', key: 'k1', value: `v${seed}`, time: 20 },
  ];
}

function fakeResult(options: ChaosOptions, failing: boolean): SeedResult {
  const orchestration = options.workload === 'orchestration';
  return {
    seed: options.seed,
    violation: failing
      ? { checker: 'linearizability', message: `stale read in seed ${options.seed}`, simTimeUs: 1_500_000 }
      : null,
    traceHash: `hash-${options.seed}`,
    faultsFired: orchestration ? { network: 3, disk: 2, process: 1, clock: 0, runtime: 4, load: 1 } : { network: 3, disk: 2, process: 1, clock: 0 },
    faultDetail: { drop: 3, crash: 1 },
    parameters: { dropRate: 0.1, nodes: options.nodes },
    simSeconds: options.durationSimSeconds,
    history: historyOf(options.seed),
    stats: {},
    linearizability: orchestration ? 'not applicable' : failing ? 'violation' : 'ok',
    convergedAfterHealUs: orchestration && !failing ? options.seed * 1_000_000 : null,
    operations: orchestration ? [{ time: 5, actor: 'operator', goal: `create s${options.seed}` }] : [],
    replay: `warren chaos replay --seed ${options.seed}`,
  };
}

interface Harness {
  io: ChaosIo;
  out: () => string;
  err: () => string;
  calls: ChaosOptions[];
  shrinks: number[];
}

/** A CLI wired to doubles: seeds in `failingSeeds` fail (unless the bug list empties them). */
function harness(failingSeeds: readonly number[] = [], isTTY = false): Harness {
  let stdout = '';
  let stderr = '';
  const calls: ChaosOptions[] = [];
  const shrinks: number[] = [];
  let clockMs = 0;
  const io: ChaosIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    isTTY,
    defaults,
    bugCatalog,
    now: () => (clockMs += 250),
    runSeed: (options) => {
      calls.push(options);
      options.trace?.(`event 1 of seed ${options.seed}`);
      options.trace?.(`event 2 of seed ${options.seed}`);
      return fakeResult(options, failingSeeds.includes(options.seed));
    },
    shrink: (options, failing, onProgress) => {
      shrinks.push(failing.seed);
      onProgress?.(4, 1);
      const shrunkOptions = { ...options, mask: { events: [2], rates: ['drop'] } };
      const result = {
        ...fakeResult(shrunkOptions, true),
        replay: `warren chaos replay --seed ${failing.seed} --shrink-mask events=2/rates=drop`,
      };
      return { options: shrunkOptions, result };
    },
  };
  return { io, out: () => stdout, err: () => stderr, calls, shrinks };
}

function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, any>;
}

const scratch = mkdtempSync(join(tmpdir(), 'warren-chaos-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('warren chaos run', () => {
  it('runs seeds 1..20 by default and exits 0 when none fails', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run'], h.io), 0);
    assert.deepEqual(h.calls.map((c) => c.seed), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.match(h.out(), /20 seeds \(seeds 1\.\.20\), violations 0/);
    assert.match(h.out(), /faults fired: network 60, disk 40, process 20, clock 0/);
    assert.equal(h.err(), '');
  });

  it('runs FIRST..FIRST+COUNT-1 with --seeds and --from, passing the options through', async () => {
    const h = harness();
    const code = await chaosMain(
      ['run', '--seeds', '3', '--from', '40', '--nodes', '3', '--faults', 'disk,network', '--duration', '7', '--inject-bug', 'skip-fsync'],
      h.io,
    );
    assert.equal(code, 0);
    assert.deepEqual(h.calls.map((c) => c.seed), [40, 41, 42]);
    const options = h.calls[0];
    assert.equal(options.nodes, 3);
    assert.deepEqual(options.faults, ['network', 'disk']);
    assert.equal(options.durationSimSeconds, 7);
    assert.deepEqual(options.bugs, ['skip-fsync']);
    assert.equal(options.opsPerSecond, 100);
    assert.equal(options.mask, null);
    assert.equal(options.trace, null);
  });

  it('accepts --faults none and --shrink-mask', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--seed', '0', '--faults', 'none', '--shrink-mask', 'events=1-3/rates=drop'], h.io), 0);
    assert.deepEqual(h.calls[0].faults, []);
    assert.deepEqual(h.calls[0].mask, { events: [1, 2, 3], rates: ['drop'] });
  });

  it('exits 1 on a violation and reports the seed, violation, parameters, faults and both replays', async () => {
    const h = harness([2]);
    assert.equal(await chaosMain(['run', '--seeds', '3'], h.io), 1);
    const out = h.out();
    assert.match(out, /seed 2: VIOLATION linearizability at 1\.500000s sim: stale read in seed 2/);
    assert.match(out, /parameters: dropRate=0\.1 nodes=5/);
    assert.match(out, /faults fired: network 3, disk 2, process 1, clock 0 \(drop 3, crash 1\)/);
    assert.match(out, /replay: warren chaos replay --seed 2\n/);
    assert.match(out, /shrunk replay: warren chaos replay --seed 2 --shrink-mask events=2\/rates=drop/);
    assert.match(out, /violations 1/);
    assert.deepEqual(h.shrinks, [2]);
    assert.equal(h.calls.length, 3);
  });

  it('--stop-on-first stops after the first failing seed', async () => {
    const h = harness([3, 5]);
    assert.equal(await chaosMain(['run', '--seeds', '10', '--stop-on-first', '--json'], h.io), 1);
    assert.deepEqual(h.calls.map((c) => c.seed), [1, 2, 3]);
    const summary = lastJson(h.out());
    assert.equal(summary.seeds, 3);
    assert.equal(summary.violations, 1);
  });

  it('--json prints exactly one JSON object, the documented summary, and nothing else', async () => {
    const h = harness([2, 4], true);
    assert.equal(await chaosMain(['run', '--seeds', '4', '--json'], h.io), 1);
    const lines = h.out().trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const summary = lastJson(h.out());
    assert.deepEqual(Object.keys(summary), [
      'seeds', 'violations', 'failing', 'simSeconds', 'wallSeconds', 'faultsFired', 'linearizability',
    ]);
    assert.equal(summary.seeds, 4);
    assert.equal(summary.violations, 2);
    assert.equal(summary.simSeconds, 80);
    assert.equal(typeof summary.wallSeconds, 'number');
    assert.deepEqual(summary.faultsFired, { network: 12, disk: 8, process: 4, clock: 0 });
    assert.deepEqual(summary.linearizability, { ok: 2, violation: 2, unknown: 0 });
    assert.deepEqual(summary.failing[0], {
      seed: 2,
      violation: { checker: 'linearizability', message: 'stale read in seed 2', simTimeUs: 1_500_000 },
      replay: 'warren chaos replay --seed 2',
      shrunkReplay: 'warren chaos replay --seed 2 --shrink-mask events=2/rates=drop',
    });
    assert.equal(summary.failing[1].seed, 4);
    assert.equal(h.err(), '', 'no progress line with --json, even on a terminal');
  });

  it('--json with --seed adds the trace hash and the drawn parameters', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--seed', '9', '--json'], h.io), 0);
    const summary = lastJson(h.out());
    assert.equal(summary.traceHash, 'hash-9');
    assert.deepEqual(summary.parameters, { dropRate: 0.1, nodes: 5 });
    assert.deepEqual(summary.failing, []);
  });

  it('draws a progress line in place on a terminal and nothing when not', async () => {
    const tty = harness([], true);
    await chaosMain(['run', '--seeds', '2'], tty.io);
    assert.match(tty.err(), /\rseed 2\/2 {2}violations 0 {2}\d+\.\d seeds\/s\x1b\[K/);
    assert.ok(tty.err().endsWith('\r\x1b[K'), 'the line is cleared before the summary');
    const pipe = harness();
    await chaosMain(['run', '--seeds', '2'], pipe.io);
    assert.equal(pipe.err(), '');
  });

  it('--history writes the first failing seed as JSON lines and says which', async () => {
    const file = join(scratch, 'first-failing.jsonl');
    const h = harness([3, 4]);
    assert.equal(await chaosMain(['run', '--seeds', '5', '--history', file], h.io), 1);
    assert.deepEqual(parseHistoryJsonLines(readFileSync(file, 'utf8')), historyOf(3));
    assert.match(h.out(), /history: seed 3 \(the first failing seed\) written to /);
  });

  it('--history writes the last seed when none failed', async () => {
    const file = join(scratch, 'last.jsonl');
    const h = harness();
    assert.equal(await chaosMain(['run', '--seeds', '3', '--from', '7', '--history', file], h.io), 0);
    assert.deepEqual(parseHistoryJsonLines(readFileSync(file, 'utf8')), historyOf(9));
    assert.match(h.out(), /history: seed 9 \(the last seed; none failed\)/);
  });

  it('an unwritable --history path is bad usage, found before any seed runs', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--history', join(scratch, 'missing', 'dir', 'h.jsonl')], h.io), 2);
    assert.match(h.err(), /--history/);
    assert.equal(h.calls.length, 0);
  });
});

describe('warren chaos run --workload orchestration', () => {
  it('passes the workload through, runs all six fault classes, and reports convergence after the heal', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--workload', 'orchestration', '--seeds', '4', '--json'], h.io), 0);
    assert.deepEqual(h.calls.map((c) => [c.workload, c.faults.join(',')]), Array.from({ length: 4 }, () => ['orchestration', 'network,disk,process,clock,runtime,load']));
    const summary = lastJson(h.out());
    assert.deepEqual(summary.faultsFired, { network: 12, disk: 8, process: 4, clock: 0, runtime: 16, load: 4 });
    assert.deepEqual(summary.convergenceAfterHeal, { seeds: 4, p50SimSeconds: 2, p99SimSeconds: 4, maxSimSeconds: 4 });
    assert.equal(summary.linearizability, undefined, 'no linearizability verdict for a workload without reads');
  });

  it('prints convergence in the text summary, and --faults picks classes of the workload', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--workload', 'orchestration', '--seeds', '2', '--faults', 'runtime,load'], h.io), 0);
    assert.deepEqual(h.calls[0]!.faults, ['runtime', 'load']);
    assert.match(h.out(), /convergence after heal \(simulated s, 2 seeds\): p50 1, p99 2, max 2/);
    assert.match(h.out(), /faults fired: network 6, disk 4, process 2, clock 0, runtime 8, load 2/);
  });

  it('writes the operator goals and load requests as the history', async () => {
    const h = harness();
    const file = join(scratch, 'orchestration.jsonl');
    assert.equal(await chaosMain(['run', '--workload', 'orchestration', '--seed', '3', '--history', file], h.io), 0);
    assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line)), [{ time: 5, actor: 'operator', goal: 'create s3' }]);
  });
});

describe('warren chaos replay', () => {
  it('requires --seed', async () => {
    const h = harness();
    assert.equal(await chaosMain(['replay'], h.io), 2);
    assert.match(h.err(), /--seed/);
  });

  it('re-runs one seed, prints it with its trace hash, and writes the trace', async () => {
    const file = join(scratch, 'trace.txt');
    const h = harness();
    assert.equal(await chaosMain(['replay', '--seed', '12', '--nodes', '3', '--trace', file], h.io), 0);
    assert.deepEqual(h.calls.map((c) => c.seed), [12]);
    assert.equal(readFileSync(file, 'utf8'), 'event 1 of seed 12\nevent 2 of seed 12\n');
    assert.match(h.out(), /seed 12: ok/);
    assert.match(h.out(), /trace hash: hash-12/);
  });

  it('exits 1 and reports traceHash in JSON when the seed fails', async () => {
    const h = harness([12]);
    assert.equal(await chaosMain(['replay', '--seed', '12', '--json'], h.io), 1);
    const summary = lastJson(h.out());
    assert.equal(summary.traceHash, 'hash-12');
    assert.equal(summary.failing[0].seed, 12);
  });
});

describe('warren chaos bugs', () => {
  it('lists "name  description" per line', async () => {
    const h = harness();
    assert.equal(await chaosMain(['bugs'], h.io), 0);
    assert.equal(
      h.out(),
      'commit-old-term  commit an entry of an earlier term by counting replicas [kv, orchestration]\n' +
        'skip-fsync       acknowledge before sync [kv]\n' +
        'double-slot      two tasks in one slot [orchestration]\n',
    );
  });

  it('--json prints an array of {name, description, workloads}', async () => {
    const h = harness();
    assert.equal(await chaosMain(['bugs', '--json'], h.io), 0);
    assert.deepEqual(JSON.parse(h.out()), bugCatalog);
  });
});

describe('bad usage exits 2 naming the argument', () => {
  const cases: [string, string[], RegExp][] = [
    ['a non-numeric seed', ['run', '--seed', 'x'], /--seed.*'x'.*integer/],
    ['a negative seed', ['run', '--seed', '-1'], /--seed/],
    ['zero seeds', ['run', '--seeds', '0'], /--seeds.*'0'.*integer from 1/],
    ['a fractional duration', ['run', '--duration', '1.5'], /--duration.*'1\.5'.*integer from 1/],
    ['zero duration', ['run', '--duration', '0'], /--duration/],
    ['too many nodes', ['run', '--nodes', '10'], /--nodes.*'10'.*integer from 1 to 9/],
    ['zero nodes', ['run', '--nodes', '0'], /--nodes/],
    ['an unknown fault class', ['run', '--faults', 'network,cosmic'], /--faults.*unknown fault class "cosmic".*network, disk, process, clock, runtime, load/],
    ['a fault class the workload lacks', ['run', '--faults', 'network,runtime'], /fault class runtime does not apply to --workload kv; its classes are network, disk, process, clock/],
    ['a bug the workload lacks', ['run', '--workload', 'orchestration', '--inject-bug', 'skip-fsync'], /bug "skip-fsync" cannot be planted in --workload orchestration; it applies to --workload kv/],
    ['an orchestration bug in kv', ['replay', '--seed', '1', '--inject-bug', 'double-slot'], /bug "double-slot" cannot be planted in --workload kv/],
    ['an empty fault item', ['run', '--faults', 'network,'], /--faults.*unknown fault class ""/],
    ['an unknown bug', ['run', '--inject-bug', 'nope'], /--inject-bug.*unknown bug "nope".*commit-old-term, skip-fsync/],
    ['an unknown workload', ['run', '--workload', 'batch'], /--workload.*unknown workload "batch".*kv, orchestration/],
    ['a malformed mask', ['replay', '--seed', '1', '--shrink-mask', 'events=x'], /--shrink-mask.*invalid shrink mask/],
    ['an unknown option', ['run', '--bogus'], /unknown option '--bogus'/],
    ['--seed with --seeds', ['run', '--seed', '1', '--seeds', '5'], /--seed.*cannot be used with.*--seeds/],
    ['--seed with --from', ['run', '--seed', '1', '--from', '5'], /--seed.*cannot be used with.*--from/],
    ['an extra argument', ['run', 'extra'], /too many arguments.*|unknown.*extra/],
    ['--seeds on replay', ['replay', '--seed', '1', '--seeds', '3'], /unknown option '--seeds'/],
    ['--trace on run', ['run', '--trace', 'f'], /unknown option '--trace'/],
    ['an unknown subcommand', ['walk'], /unknown command 'walk'/],
    ['no subcommand', [], /Usage: warren chaos/],
    ['a missing option value', ['run', '--nodes'], /--nodes.*argument missing/],
  ];
  for (const [name, argv, expected] of cases) {
    it(name, async () => {
      const h = harness();
      assert.equal(await chaosMain(argv, h.io), 2, h.err());
      assert.match(h.err(), expected);
      assert.equal(h.calls.length, 0);
    });
  }

  it('--help exits 0 and prints the usage on stdout', async () => {
    const h = harness();
    assert.equal(await chaosMain(['run', '--help'], h.io), 0);
    assert.match(h.out(), /Usage: warren chaos run \[options\]/);
    assert.match(h.out(), /--stop-on-first/);
  });
});
