// The bench command's contract: an unknown name is bad usage (exit 2, naming the known ones);
// --json prints exactly one JSON line; progress goes to stderr on a terminal only.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { benchMain, benchmarks, formatTable, loadBenchmark } from './cli.ts';
import type { BenchIo, BenchmarkArgs, BenchmarkModule } from './cli.ts';

interface Harness {
  io: BenchIo;
  out: () => string;
  err: () => string;
  loaded: string[];
  seen: BenchmarkArgs[];
}

function harness(isTTY = false, results: Record<string, unknown> = { seedsPerSecond: 12.34567, seeds: 40 }): Harness {
  let stdout = '';
  let stderr = '';
  const loaded: string[] = [];
  const seen: BenchmarkArgs[] = [];
  const fake: BenchmarkModule = {
    run: async (args) => {
      seen.push(args);
      args.progress('warming up');
      return results;
    },
  };
  const io: BenchIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    isTTY,
    load: async (name) => {
      loaded.push(name);
      return fake;
    },
    nodeVersion: 'v20.0.0',
    cpuCount: 8,
  };
  return { io, out: () => stdout, err: () => stderr, loaded, seen };
}

describe('npm run bench', () => {
  it('an unknown benchmark exits 2 and lists the known ones', async () => {
    const h = harness();
    assert.equal(await benchMain(['nope'], h.io), 2);
    assert.match(h.err(), /unknown benchmark 'nope'; known benchmarks: failover, manager-rss, raft, raft-real, reconcile, scheduler, sim/);
    assert.deepEqual(h.loaded, []);
    assert.equal(h.out(), '');
  });

  it('a missing name, an unknown option or an extra argument exits 2', async () => {
    for (const argv of [[], ['sim', '--fast'], ['sim', 'raft']]) {
      const h = harness();
      assert.equal(await benchMain(argv, h.io), 2, argv.join(' '));
      assert.match(h.err(), /error: /);
      assert.deepEqual(h.loaded, []);
    }
    const h = harness();
    await benchMain([], h.io);
    assert.match(h.err(), /known benchmarks: failover, manager-rss, raft, raft-real, reconcile, scheduler, sim/);
  });

  it('--json prints only one JSON line: the results with benchmark, node and cpus', async () => {
    const h = harness(true);
    assert.equal(await benchMain(['sim', '--json'], h.io), 0);
    assert.deepEqual(h.loaded, ['sim']);
    assert.equal(h.seen[0].json, true);
    const lines = h.out().split('\n');
    assert.deepEqual(lines.slice(1), ['']);
    assert.deepEqual(JSON.parse(lines[0]), {
      benchmark: 'sim',
      seedsPerSecond: 12.34567,
      seeds: 40,
      node: 'v20.0.0',
      cpus: 8,
    });
  });

  it('without --json prints a table of the fields', async () => {
    const h = harness(false, { opsPerSecond: 1500.25, latency: { p50: 1, p99: 7 } });
    assert.equal(await benchMain(['raft'], h.io), 0);
    assert.equal(
      h.out(),
      'benchmark     raft\n' +
        'opsPerSecond  1500.25\n' +
        'latency       {"p50":1,"p99":7}\n' +
        'node          v20.0.0\n' +
        'cpus          8\n',
    );
  });

  it('writes progress lines to stderr on a terminal only', async () => {
    const tty = harness(true);
    await benchMain(['sim'], tty.io);
    assert.equal(tty.err(), 'warming up\n');
    const pipe = harness(false);
    await benchMain(['sim'], pipe.io);
    assert.equal(pipe.err(), '');
  });

  it('a benchmark that throws exits 1 with its error', async () => {
    const h = harness();
    const io: BenchIo = { ...h.io, load: async () => ({ run: async () => { throw new Error('boom'); } }) };
    assert.equal(await benchMain(['sim'], io), 1);
    assert.match(h.err(), /benchmark 'sim' failed: Error: boom/);
  });

  it('--help exits 0 and lists the benchmarks', async () => {
    const h = harness();
    assert.equal(await benchMain(['--help'], h.io), 0);
    for (const name of Object.keys(benchmarks)) assert.match(h.out(), new RegExp(`  ${name} `));
  });

  it('rounds fractions to three places in the table', () => {
    assert.equal(formatTable([['x', 1 / 3], ['yy', 'text']]), 'x   0.333\nyy  text\n');
  });

  // A registered module that is not written yet is skipped, not failed; once it exists it must fit.
  for (const [name, entry] of Object.entries(benchmarks)) {
    const exists = existsSync(new URL(entry.module, new URL('./cli.ts', import.meta.url)));
    it(`the registered ${name} module exports run(args)`, { skip: !exists && `${entry.module} not written yet` }, async () => {
      const module = await loadBenchmark(name);
      assert.equal(typeof module.run, 'function');
    });
  }
});
