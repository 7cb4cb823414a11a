import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KvStore, type KvCommand } from './kv.ts';

const command = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.string() }),
  fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ op: fc.constant('cas' as const), key: fc.constantFrom('a', 'b', 'c'), expected: fc.option(fc.string(), { nil: null }), value: fc.string() }),
);

test('snapshot then restore round-trips byte-identically after any commands', () => {
  fc.assert(
    fc.property(fc.array(command), (cmds: KvCommand[]) => {
      const kv = new KvStore();
      for (const c of cmds) kv.apply(c);
      const snap = kv.snapshot();
      assert.equal(KvStore.restore(snap).snapshot(), snap);
    }),
  );
});

test('a cas whose expected value does not match changes nothing and reports the current value', () => {
  const kv = new KvStore();
  kv.apply({ op: 'put', key: 'k', value: 'v1' });
  assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: 'other', value: 'v2' }), { ok: false, current: 'v1' });
  assert.equal(kv.get('k'), 'v1');
  assert.deepEqual(kv.apply({ op: 'cas', key: 'k', expected: 'v1', value: 'v2' }), { ok: true });
  assert.equal(kv.get('k'), 'v2');
  assert.deepEqual(kv.apply({ op: 'cas', key: 'absent', expected: null, value: 'x' }), { ok: true });
});
