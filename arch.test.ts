// Guards DESIGN.md's architecture: the one-way import direction between top folders and the
// determinism rules of core/ and sim/. Each rule is first shown to catch a small violating source
// (so a scanner that silently finds nothing cannot pass), then run over every .ts file of the tree.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkDeterminismRules, checkImportRules, findImports, tokenize } from './arch-rules.ts';

const PROJECT_ROOT = fileURLToPath(new URL('.', import.meta.url));
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'coverage']);

/** Every .ts file under the project, as sorted project-relative paths with forward slashes. */
function projectTypeScriptFiles(directory: string = PROJECT_ROOT): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIPPED_DIRECTORIES.has(entry.name)) continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...projectTypeScriptFiles(path));
    else if (entry.isFile() && /\.[cm]?ts$/.test(entry.name)) files.push(relative(PROJECT_ROOT, path).split(sep).join('/'));
  }
  return files.sort();
}

const lines = (...source: string[]): string => source.join('\n');

describe('tokenizer', () => {
  test('drops comments and keeps string bodies apart from code', () => {
    const tokens = tokenize(lines('// Math.random', '/* Date.now()', '*/ const x = "setTimeout"; y'));
    assert.deepEqual(tokens.map((t) => `${t.line}:${t.kind}:${t.value}`), [
      '3:identifier:const', '3:identifier:x', '3:punctuator:=', '3:string:setTimeout', '3:punctuator:;', '3:identifier:y',
    ]);
  });

  test('scans the code inside template substitutions, including nested templates', () => {
    const identifiers = tokenize('`a ${ {b: `c ${d} e`}.b } f ${g}` + h')
      .filter((t) => t.kind === 'identifier').map((t) => t.value);
    assert.deepEqual(identifiers, ['b', 'd', 'b', 'g', 'h']);
  });

  test('reads a regular expression literal as one token, not as a comment or a string', () => {
    const tokens = tokenize(lines("const r = /[/'\"]\\/\\//g; const q = a / b / c;", 'z'));
    assert.deepEqual(tokens.filter((t) => t.kind === 'regex').map((t) => t.value), ["/[/'\"]\\/\\//g"]);
    assert.deepEqual(tokens.at(-1), { kind: 'identifier', value: 'z', line: 2 });
  });
});

describe('import extraction', () => {
  test('finds static imports, re-exports, side-effect, dynamic and require imports with their lines', () => {
    const source = lines(
      "import a from './a.ts';",
      "import type { B } from './b.ts';",
      'import {',
      '  c,',
      "} from './c.ts';",
      "import * as d from './d.ts';",
      "import e, { f } from './e.ts';",
      "import './side-effect.ts';",
      "export * from './g.ts';",
      "export { h as i } from './h.ts';",
      "const j = await import('./j.ts');",
      "const k = require('./k.ts');",
      'const l = await import(name);',
    );
    assert.deepEqual(findImports(source), [
      { specifier: './a.ts', line: 1 }, { specifier: './b.ts', line: 2 }, { specifier: './c.ts', line: 5 },
      { specifier: './d.ts', line: 6 }, { specifier: './e.ts', line: 7 }, { specifier: './side-effect.ts', line: 8 },
      { specifier: './g.ts', line: 9 }, { specifier: './h.ts', line: 10 }, { specifier: './j.ts', line: 11 },
      { specifier: './k.ts', line: 12 }, { specifier: null, line: 13 },
    ]);
  });

  test('ignores local exports, declarations, import.meta and imports inside comments or strings', () => {
    const source = lines(
      'export { x };',
      'export const from = 1;',
      'export enum E { A }',
      "export function f(): string { return 'import y from \"../sim/y.ts\"'; }",
      "// import z from 'node:fs'",
      'const url = import.meta.url;',
    );
    assert.deepEqual(findImports(source), []);
  });
});

describe('import direction rules', () => {
  const violations = (file: string, ...source: string[]) => checkImportRules(file, lines(...source));

  test('core may import core only', () => {
    assert.deepEqual(violations('core/raft/log.ts', "import { Entry } from './types.ts';", "import { x } from '../state/index.ts';"), []);
    assert.deepEqual(violations('core/raft/log.ts', "import { s } from '../../sim/clock.ts';"), [
      "core/raft/log.ts:1 imports '../../sim/clock.ts' (core imports only core: no packages, no node: modules)",
    ]);
    assert.equal(violations('core/ports.ts', "import { a } from '../arch-rules.ts';").length, 1);
    assert.equal(violations('core/ports.ts', "import { a } from '../../elsewhere/x.ts';").length, 1);
    assert.equal(violations('core/ports.ts', "export * from '../adapters/x.ts';").length, 1);
  });

  test('core imports no node: modules and no packages, even one reached dynamically', () => {
    const found = violations('core/raft/raft.ts',
      "import { readFileSync } from 'node:fs';", "import * as fs from 'fs';", "import pino from 'pino';",
      "import seedrandom from 'seedrandom';", "const m = await import('node:crypto');", 'const n = await import(name);');
    assert.deepEqual(found.map((v) => v.split(' (')[0]), [
      "core/raft/raft.ts:1 imports 'node:fs'", "core/raft/raft.ts:2 imports 'fs'", "core/raft/raft.ts:3 imports 'pino'",
      "core/raft/raft.ts:4 imports 'seedrandom'", "core/raft/raft.ts:5 imports 'node:crypto'",
      'core/raft/raft.ts:6 imports a non-literal dynamic import',
    ]);
  });

  test('a core test file follows core rules, with node:test, node:assert and fast-check as its only tools', () => {
    const tools = ["import { test } from 'node:test';", "import assert from 'node:assert/strict';", "import fc from 'fast-check';"];
    assert.deepEqual(violations('core/raft/raft.test.ts', ...tools, "import { Raft } from './raft.ts';"), []);
    assert.equal(violations('core/raft/raft.ts', ...tools).length, 3);
    assert.equal(violations('core/raft/raft.test.ts', "import fs from 'node:fs';", "import { c } from '../../sim/cluster.ts';").length, 2);
  });

  test('sim imports core and sim, and of packages only seedrandom', () => {
    assert.deepEqual(violations('sim/rng.ts',
      "import seedrandom from 'seedrandom';", "import alea from 'seedrandom/lib/alea';",
      "import { Node } from '../core/raft/index.ts';", "import { Clock } from './clock.ts';"), []);
    const found = violations('sim/cluster.ts', "import pino from 'pino';", "import { run } from '../chaos/runner.ts';", "import { setTimeout } from 'node:timers';");
    assert.deepEqual(found.map((v) => v.split(' ')[0]), ['sim/cluster.ts:1', 'sim/cluster.ts:2', 'sim/cluster.ts:3']);
  });

  test('chaos imports core, sim and chaos, and adapters only from chaos/real/', () => {
    const source = ["import { c } from '../core/x.ts';", "import { s } from '../sim/x.ts';", "import fc from 'fast-check';", "import { writeFileSync } from 'node:fs';"];
    assert.deepEqual(violations('chaos/runner.ts', ...source), []);
    assert.deepEqual(violations('chaos/runner.ts', "import { Daemon } from '../adapters/daemon.ts';"), [
      "chaos/runner.ts:1 imports '../adapters/daemon.ts' (chaos imports core, sim and chaos; adapters only from chaos/real/)",
    ]);
    assert.deepEqual(violations('chaos/real/driver.ts', "import { Daemon } from '../../adapters/daemon.ts';"), []);
    assert.equal(violations('chaos/real/driver.ts', "import { x } from '../../bench/x.ts';").length, 1);
  });

  test('adapters import core, adapters and any package, but never sim or chaos', () => {
    assert.deepEqual(violations('adapters/wal.ts', "import { open } from 'node:fs/promises';", "import * as grpc from '@grpc/grpc-js';", "import { Node } from '../core/raft/index.ts';"), []);
    assert.equal(violations('adapters/cli/main.ts', "import { run } from '../../chaos/cli.ts';", "import { x } from '../../sim/x.ts';").length, 2);
  });

  test('bench, runbooks and root files may import anything', () => {
    const anything = ["import { x } from '../adapters/x.ts';", "import { y } from '../chaos/y.ts';", "import fs from 'node:fs';"];
    assert.deepEqual(violations('bench/cli.ts', ...anything), []);
    assert.deepEqual(violations('runbooks/drain.ts', ...anything), []);
    assert.deepEqual(violations('arch-rules.ts', ...anything), []);
  });
});

describe('determinism rules', () => {
  const found = (file: string, ...source: string[]) => checkDeterminismRules(file, lines(...source));

  test('flags every source of time, randomness, scheduling, process state and I/O in core and sim', () => {
    const source = [
      'const t = Date.now();', 'const r = Math.random();', 'setTimeout(f, 1);', 'setInterval(f, 1);',
      'setImmediate(f);', 'queueMicrotask(f);', 'const e = process.env.X;', 'const p = performance.now();',
      "import { readFileSync } from 'node:fs';", "const fs = require('fs');", 'await Promise.race([a, b]);',
      'await Promise.any([a, b]);', 'const g = globalThis;', 'const d: Date = new Date();', 'const u = crypto.randomUUID();',
    ];
    assert.deepEqual(found('sim/clock.ts', ...source), [
      'sim/clock.ts:1: found Date', 'sim/clock.ts:2: found Math.random', 'sim/clock.ts:3: found setTimeout',
      'sim/clock.ts:4: found setInterval', 'sim/clock.ts:5: found setImmediate', 'sim/clock.ts:6: found queueMicrotask',
      'sim/clock.ts:7: found process.', 'sim/clock.ts:8: found performance.', 'sim/clock.ts:9: found node:fs import',
      'sim/clock.ts:10: found require(', 'sim/clock.ts:10: found node:fs import', 'sim/clock.ts:11: found Promise.race',
      'sim/clock.ts:12: found Promise.any', 'sim/clock.ts:13: found globalThis', 'sim/clock.ts:14: found Date',
      'sim/clock.ts:14: found Date', 'sim/clock.ts:15: found crypto.',
    ]);
    assert.deepEqual(found('core/raft/raft.ts', 'const t = Date.now();'), ['core/raft/raft.ts:1: found Date']);
  });

  test('does not flag comments, strings, or domain names that only look alike', () => {
    assert.deepEqual(found('core/raft/raft.ts',
      '// Never Math.random() or Date.now(): randomness is handed in.',
      '/* setTimeout, process.exit(), globalThis */',
      "const message = 'Promise.race is forbidden; use Date.now() never';",
      'const template = `no ${name} Math.random here`;',
      'const event = { process: 3 }; const id = event.process; const p = history.process.id;',
      'clock.setTimeout(f, 1); const all = Promise.all([a]); const m = Math.max(1, 2); const updatedDate = 1;',
    ), []);
  });

  test('applies to test files of core and sim, apart from their test tooling', () => {
    assert.deepEqual(found('core/raft/raft.test.ts', "import { test } from 'node:test';", "import fc from 'fast-check';"), []);
    assert.deepEqual(found('core/raft/raft.test.ts', 'const seed = Date.now();'), ['core/raft/raft.test.ts:1: found Date']);
    assert.deepEqual(found('sim/clock.test.ts', 'const r = Math.random();'), ['sim/clock.test.ts:1: found Math.random']);
  });

  test('leaves the shell alone: chaos, adapters and bench may read clocks', () => {
    for (const file of ['chaos/runner.ts', 'adapters/daemon.ts', 'bench/cli.ts', 'arch.test.ts']) {
      assert.deepEqual(found(file, 'const t = Date.now(); setTimeout(f, 1);'), []);
    }
  });
});

describe('the project tree', () => {
  const files = projectTypeScriptFiles();

  test('the scan sees the project (it found this file and its rules)', () => {
    assert.ok(files.includes('arch.test.ts') && files.includes('arch-rules.ts'), `scanned: ${files.join(', ')}`);
  });

  test('every import follows the one-way direction of DESIGN.md', () => {
    const violations = files.flatMap((file) => checkImportRules(file, readFileSync(join(PROJECT_ROOT, file), 'utf8')));
    if (violations.length > 0) assert.fail(`${violations.length} import rule violation(s):\n${violations.join('\n')}`);
  });

  test('core and sim are free of time, randomness, timers, process state and I/O', () => {
    const violations = files.flatMap((file) => checkDeterminismRules(file, readFileSync(join(PROJECT_ROOT, file), 'utf8')));
    if (violations.length > 0) assert.fail(`${violations.length} determinism rule violation(s):\n${violations.join('\n')}`);
  });
});
