import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalMask, formatMask, MaskParseError, maskEventsMax, parseMask } from './mask.ts';

const rateName = fc.stringMatching(/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,11}$/);
const mask = fc.record({
  events: fc.array(fc.nat({ max: 400 }), { maxLength: 60 }),
  rates: fc.array(rateName, { maxLength: 8 }),
});

describe('shrink mask spec', () => {
  it('writes events as ascending ranges and rates sorted, in a shell-safe form', () => {
    assert.equal(
      formatMask({ events: [9, 1, 2, 3, 4, 4, 7, 8], rates: ['duplicate', 'drop'] }),
      'events=1-4,7-9/rates=drop,duplicate',
    );
    assert.equal(formatMask({ events: [4, 5], rates: [] }), 'events=4,5/rates=');
    assert.equal(formatMask({ events: [], rates: [] }), 'events=/rates=');
  });

  it('reads what it wrote back as the same mask (canonical masks round-trip exactly)', () => {
    fc.assert(
      fc.property(mask, (m) => {
        const spec = formatMask(m);
        assert.match(spec, /^[A-Za-z0-9=,/_.-]*$/);
        const parsed = parseMask(spec);
        assert.deepEqual(parsed, canonicalMask(m));
        assert.equal(formatMask(parsed), spec);
      }),
    );
  });

  it('accepts sections in either order, ";" as separator, and unsorted or repeated items', () => {
    assert.deepEqual(parseMask('rates=dup,drop;events=9,1-3,2'), {
      events: [1, 2, 3, 9],
      rates: ['drop', 'dup'],
    });
  });

  it('rejects malformed specs with a MaskParseError that says what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['', /no "="/],
      ['events=1', /"rates" section is missing/],
      ['rates=drop', /"events" section is missing/],
      ['events=1/rates=drop/events=2', /appears twice/],
      ['events=1/rates=drop/bogus=3', /unknown section "bogus"/],
      ['events=x/rates=', /event "x" is not a number/],
      ['events=01/rates=', /event "01"/],
      ['events=-1/rates=', /event "-1"/],
      ['events=5-2/rates=', /ends before it starts/],
      ['events=1,,2/rates=', /empty item/],
      ['events=/rates=a b', /rate "a b"/],
      [`events=0-${maskEventsMax}/rates=`, /more than/],
    ];
    for (const [spec, expected] of cases) {
      assert.throws(
        () => parseMask(spec),
        (error: unknown) =>
          error instanceof MaskParseError && error.code === 'mask_parse' && expected.test(error.message),
        spec,
      );
    }
  });

  it('refuses to format what could not be read back', () => {
    assert.throws(() => formatMask({ events: [-1], rates: [] }), RangeError);
    assert.throws(() => formatMask({ events: [1.5], rates: [] }), RangeError);
    assert.throws(() => formatMask({ events: [], rates: ['a,b'] }), RangeError);
  });
});
