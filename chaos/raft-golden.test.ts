// Runs the Raft core's golden interaction scenarios, core/raft/testdata/*.txt, through the pure
// runner of core/raft/interaction.ts (the file format and commands are documented there). This file
// lives in chaos/ rather than beside the scenarios because it reads files and the environment, I/O
// that core/ may not do even in tests (arch.test.ts enforces it); chaos/ may.
//
// A mismatch fails with a diff per command. `REWRITE=1` instead rewrites every scenario's expected
// outputs from what actually happened (never silently: only when asked); review the diff like code.
//   REWRITE=1 node --import tsx --test chaos/raft-golden.test.ts

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScript, type Mismatch } from '../core/raft/interaction.ts';

const testdata = fileURLToPath(new URL('../core/raft/testdata/', import.meta.url));
const rewrite = process.env['REWRITE'] === '1';
const scenarios = readdirSync(testdata).filter((f) => f.endsWith('.txt')).sort();

function report(file: string, mismatches: readonly Mismatch[]): string {
  const parts = mismatches.map((m) => `${file}:${m.line}: ${m.command}\n${m.diff}`);
  return `${mismatches.length} command(s) of ${file} printed something else (- expected, + actual); ` +
    `if the change is intended, run with REWRITE=1 and review the diff\n\n${parts.join('\n\n')}`;
}

test('the golden scenarios are all found', () => {
  assert.ok(scenarios.length >= 10, `found only ${scenarios.join(', ')} in ${testdata}`);
});

for (const file of scenarios) {
  test(`scenario ${file}`, () => {
    const path = join(testdata, file);
    const text = readFileSync(path, 'utf8');
    const result = runScript(text);
    if (rewrite) {
      if (result.rewritten !== text) writeFileSync(path, result.rewritten);
      return;
    }
    if (result.mismatches.length > 0) assert.fail(report(file, result.mismatches));
  });
}
