import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { constraintForms, isLabelKey, matches, parseConstraint, parseConstraints, parseSpread } from './constraints.ts';
import type { Constraint } from './constraints.ts';
import { makeNode } from './fixtures.ts';

function parsed(text: string): Constraint {
  const result = parseConstraint(text);
  assert.equal(result.type, 'constraint', `expected ${text} to parse: ${'message' in result ? result.message : ''}`);
  return result as Constraint;
}

function refused(text: string, problem: RegExp): void {
  const result = parseConstraint(text);
  assert.equal(result.type, 'error', `expected ${JSON.stringify(text)} to be refused`);
  if (result.type !== 'error') return;
  assert.equal(result.code, 'invalid-constraint');
  assert.equal(result.text, text);
  assert.ok(result.message.startsWith(`invalid placement constraint ${JSON.stringify(text)}: `), result.message);
  assert.match(result.message, problem);
  assert.ok(result.message.endsWith(`expected one of ${constraintForms}`), result.message);
}

describe('parseConstraint', () => {
  it('parses every attribute with == and !=', () => {
    assert.deepEqual(parsed('node.id==n3'), { type: 'constraint', attribute: { type: 'id' }, operator: '==', value: 'n3', text: 'node.id==n3' });
    assert.deepEqual(parsed('node.hostname!=edge-1').attribute, { type: 'hostname' });
    assert.equal(parsed('node.hostname!=edge-1').operator, '!=');
    for (const role of ['manager', 'worker', 'hybrid']) assert.equal(parsed(`node.role==${role}`).value, role);
    assert.deepEqual(parsed('node.labels.zone==east').attribute, { type: 'label', key: 'zone' });
    assert.deepEqual(parsed('node.labels.com.example/disk!=hdd').attribute, { type: 'label', key: 'com.example/disk' });
  });

  it('allows spaces around the operator and the whole constraint', () => {
    const constraint = parsed('  node.labels.zone  ==  east ');
    assert.equal(constraint.value, 'east');
    assert.equal(constraint.text, 'node.labels.zone  ==  east');
  });

  it('refuses empty input', () => {
    refused('', /it is empty/);
    refused('   ', /it is empty/);
  });

  it('refuses a constraint without an operator, including a single =', () => {
    refused('node.labels.zone', /no operator/);
    refused('node.labels.zone=east', /no operator/);
    refused('node.role<>manager', /no operator/);
  });

  it('refuses a missing attribute or value', () => {
    refused('==east', /attribute before the operator is missing/);
    refused('node.labels.zone==', /value after '==' is missing/);
    refused('node.labels.zone!=  ', /value after '!=' is missing/);
  });

  it('refuses an unknown attribute', () => {
    refused('node.zone==east', /unknown attribute "node.zone"/);
    refused('engine.labels.os==linux', /unknown attribute/);
    refused('node.ID==n1', /unknown attribute "node.ID"/);
  });

  it('refuses a missing or malformed label key', () => {
    refused('node.labels.==east', /label key after node.labels. is missing/);
    refused('node.labels.my zone==east', /label key "my zone"/);
    refused('node.labels.-x==east', /label key "-x"/);
  });

  it('takes label keys by the rule of node labels: starting and ending with a letter or digit, at most 128', () => {
    refused('node.labels._zone==east', /label key "_zone" must be 1 to 128 letters, digits, '.', '_', '\/' or '-', starting and ending with a letter or digit/);
    refused('node.labels.zone.==east', /label key "zone."/);
    const tooLong = parseConstraint(`node.labels.${'k'.repeat(129)}==east`);
    assert.ok(tooLong.type === 'error' && /the label key "k{77}\.\.\." must be 1 to 128/.test(tooLong.message));
    assert.equal(parsed(`node.labels.${'k'.repeat(128)}==east`).attribute.type, 'label');
    assert.equal(isLabelKey('a_b'), true);
    assert.equal(isLabelKey('a'), true);
    assert.equal(isLabelKey('_a'), false);
  });

  it('refuses a constraint longer than 256 characters, quoting only its start', () => {
    const text = `node.labels.zone==${'e'.repeat(256 - 18)}`;
    assert.equal(parsed(text).value.length, 238);
    const result = parseConstraint(`${text}e`);
    assert.ok(result.type === 'error' && /^invalid placement constraint "node\.labels\.zone==e{59}\.\.\.": it has 257 characters, more than the limit of 256;/.test(result.message));
  });

  it('refuses more than one operator and values with spaces', () => {
    refused('node.labels.a==b==c', /may not contain/);
    refused('node.labels.a==b!=c', /may not contain/);
    refused('node.labels.zone==!east', /may not contain/);
    refused('node.labels.zone!==east', /may not contain/);
    refused('node.hostname==edge 1', /may not contain/);
  });

  it('refuses a role that does not exist', () => {
    refused('node.role==boss', /node.role is one of manager, worker or hybrid, not "boss"/);
    refused('node.role!=Manager', /not "Manager"/);
  });

  it('parseConstraints returns the first bad constraint', () => {
    assert.equal((parseConstraints(['node.role==worker', 'node.labels.zone==east']) as readonly Constraint[]).length, 2);
    const result = parseConstraints(['node.role==worker', 'zone==east', 'node.x==y']);
    assert.ok('message' in result);
    assert.match(result.message, /"zone==east"/);
  });

  it('round-trips any well-formed label constraint', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9_.\/-]{0,11}[A-Za-z0-9])?$/);
    const value = fc.stringMatching(/^[A-Za-z0-9_.:\/@+-]{1,12}$/);
    fc.assert(fc.property(key, fc.constantFrom('==', '!='), value, (k, operator, v) => {
      const constraint = parsed(`node.labels.${k}${operator}${v}`);
      assert.deepEqual(constraint.attribute, { type: 'label', key: k });
      assert.equal(constraint.operator, operator);
      assert.equal(constraint.value, v);
    }));
  });

  it('never throws, whatever the text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => {
      const result = parseConstraint(text);
      if (result.type === 'error') assert.ok(result.message.includes(JSON.stringify(text)));
    }));
  });
});

describe('matches', () => {
  const node = makeNode('n1', { name: 'Edge-1', role: 'manager', labels: { zone: 'east', tier: 'web' } });

  it('compares the id, the hostname and the role exactly', () => {
    assert.ok(matches(parsed('node.id==n1'), node));
    assert.ok(!matches(parsed('node.id==n2'), node));
    assert.ok(matches(parsed('node.id!=n2'), node));
    assert.ok(matches(parsed('node.hostname==Edge-1'), node));
    assert.ok(!matches(parsed('node.hostname==edge-1'), node));
    assert.ok(!matches(parsed('node.hostname!=Edge-1'), node));
    assert.ok(matches(parsed('node.role==manager'), node));
    assert.ok(!matches(parsed('node.role!=manager'), node));
    assert.ok(matches(parsed('node.role!=worker'), node));
  });

  it('compares label values exactly', () => {
    assert.ok(matches(parsed('node.labels.zone==east'), node));
    assert.ok(!matches(parsed('node.labels.zone==East'), node));
    assert.ok(!matches(parsed('node.labels.zone!=east'), node));
    assert.ok(matches(parsed('node.labels.tier!=db'), node));
  });

  it('a node without the label satisfies != and not ==', () => {
    assert.ok(!matches(parsed('node.labels.gpu==true'), node));
    assert.ok(matches(parsed('node.labels.gpu!=true'), node));
  });
});

describe('parseSpread', () => {
  it('accepts a label or a node attribute', () => {
    assert.deepEqual(parseSpread('node.labels.zone'), { type: 'spread', attribute: { type: 'label', key: 'zone' }, text: 'node.labels.zone' });
    assert.deepEqual(parseSpread('node.role').type, 'spread');
  });

  it('refuses anything else, spaces around the attribute included, naming the accepted forms', () => {
    for (const text of ['', ' ', 'zone', 'node.labels.', 'node.labels.zone==east', ' node.role ', 'node.labels._x']) {
      const result = parseSpread(text);
      assert.equal(result.type, 'error', text);
      if (result.type !== 'error') continue;
      assert.equal(result.code, 'invalid-preference');
      assert.match(result.message, /^invalid spread preference .*; expected node.labels.KEY, node.id, node.hostname or node.role$/);
    }
  });
});
