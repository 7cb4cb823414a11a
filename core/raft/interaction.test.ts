// The interaction runner itself: the script layout round-trips, a wrong expectation fails with a
// diff instead of passing, a rewrite produces a script that then passes, and a malformed script is
// an error rather than something to rewrite. The golden scenarios in testdata/*.txt are run from
// chaos/raft-golden.test.ts, because reading files is I/O that core/ may not do, even in tests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLines, parseScript, renderScript, ScriptSyntaxError } from './datadriven.ts';
import { Interaction, runScript, ScriptError } from './interaction.ts';

const script = (...lines: string[]): string => lines.join('\n') + '\n';

const election = script(
  '# Prose is kept as it is.',
  'add-nodes 3 prevote=false',
  '----',
  'ok',
  '',
  'campaign 1',
  '----',
  'n1 becomes candidate at term 1',
  '',
  'stabilize',
  '----',
  'n1->n2 vote term=1 last=(0,0)',
  'n1->n3 vote term=1 last=(0,0)',
  'n2 becomes follower at term 1',
  'n3 becomes follower at term 1',
  'n2->n1 vote-resp term=1',
  'n3->n1 vote-resp term=1',
  'n1 becomes leader at term 1',
  'n1->n2 app term=1 prev=(0,0) entries=[1/1] commit=0',
  'n1->n3 app term=1 prev=(0,0) entries=[1/1] commit=0',
  'n2->n1 app-resp term=1 index=1',
  'n3->n1 app-resp term=1 index=1',
  'n1 applied [1/1]',
  'n1->n2 app term=1 prev=(1,1) entries=[] commit=1',
  'n2 applied [1/1]',
  'n2->n1 app-resp term=1 index=1',
  '',
  'status 1',
  '----',
  'n1 term=1 role=leader leader=n1 commit=1 applied=1 last=1',
);

test('parsing then rendering a script gives back the same text', () => {
  assert.equal(renderScript(parseScript(election)), election);
  const blocks = parseScript(election).filter((c) => c.kind === 'block');
  assert.equal(blocks.length, 4);
});

test('a script whose expectations hold passes, and rewriting it changes nothing', () => {
  const result = runScript(election);
  assert.deepEqual(result.mismatches, []);
  assert.equal(result.rewritten, election);
});

test('a wrong expectation fails with a diff naming the command and its line', () => {
  const wrong = election.replace('n1 term=1 role=leader', 'n1 term=2 role=leader');
  const result = runScript(wrong);
  assert.equal(result.mismatches.length, 1);
  const m = result.mismatches[0]!;
  assert.equal(m.command, 'status 1');
  assert.equal(m.line, 28);
  assert.match(m.diff, /^- n1 term=2 role=leader/m);
  assert.match(m.diff, /^\+ n1 term=1 role=leader/m);
});

test('rewriting fills in empty or stale outputs, and the result then passes', () => {
  const blank = script('add-nodes 1', '----', '', 'campaign 1', '----', 'stale', '', 'propose 1 x', '----');
  const first = runScript(blank);
  assert.equal(first.mismatches.length, 3);
  const second = runScript(first.rewritten);
  assert.deepEqual(second.mismatches, []);
  assert.match(first.rewritten, /propose 1 x\n----\nok index=2 term=1\nn1 applied \[2\/1:x\]\n$/);
});

test('a malformed script is an error, not an output to rewrite', () => {
  assert.throws(() => parseScript('campaign 1\nstabilize\n'), ScriptSyntaxError);
  assert.throws(() => runScript(script('add-nodes 3', '----', 'ok', '', 'frobnicate 1', '----', 'ok')), /line 5: frobnicate 1: unknown command/);
  assert.throws(() => runScript(script('campaign 1', '----', 'ok')), ScriptError);
  assert.throws(() => runScript(script('campaign 1', '----', 'ok')), /start with add-nodes/);
  assert.throws(() => runScript(script('add-nodes 3 bug=nope', '----', 'ok')), /unknown bug 'nope'/);
  assert.throws(() => runScript(script('add-nodes 3', '----', 'ok', '', 'status 9', '----', 'ok')), /no node n9/);
});

test('messages can be held, delivered to one node, or dropped', () => {
  const i = new Interaction();
  i.run('add-nodes 3 prevote=false');
  i.run('campaign 1');
  assert.deepEqual(i.run('msgs 2'), ['n1->n2 vote term=1 last=(0,0)']);
  assert.deepEqual(i.run('drop-msgs 1 3'), ['dropped n1->n3 vote term=1 last=(0,0)']);
  assert.deepEqual(i.run('deliver-msgs 2'), ['n1->n2 vote term=1 last=(0,0)', 'n2 becomes follower at term 1']);
  assert.deepEqual(i.run('deliver-msgs 1'), ['n2->n1 vote-resp term=1', 'n1 becomes leader at term 1']);
  assert.deepEqual(i.run('deliver-msgs 1'), ['no messages']);
});

test('a crashed node loses what it had not made durable and restarts from its storage', () => {
  const i = new Interaction();
  i.run('add-nodes 3');
  i.run('campaign 1');
  i.run('stabilize');
  i.run('propose 1 a');
  i.run('stabilize');
  i.run('crash 2');
  assert.deepEqual(i.run('tick 2'), ['ok']);
  assert.deepEqual(i.run('restart 2'), ['n2 restarts at term 1 with commit=2 applied=0 last=2', 'n2 applied [1/1 2/1:a]']);
  assert.deepEqual(i.run('log 2'), ['1/1', '2/1:a']);
});

test('the line diff marks removed and added lines around common ones', () => {
  assert.equal(diffLines(['a', 'b', 'c'], ['a', 'x', 'c']), '  a\n- b\n+ x\n  c');
  assert.equal(diffLines([], ['ok']), '+ ok');
});
