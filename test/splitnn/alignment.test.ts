import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  digestIds,
  rowIndexFor,
  sortIdsUtf8,
  splitPositions,
  toHex,
} from '../../src/splitnn/alignment.js';
import { checkDigests } from '../../src/splitnn/controller.js';

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('common row order', () => {
  it('sorts by UTF-8 bytes, not by UTF-16 code units', () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) against U+1F600 (4 bytes, F0 9F 98 80): UTF-16 puts the
    // emoji's surrogate D83D first, UTF-8 puts U+FF5E first.
    const ids = ['\u{1F600}', '\uFF5E', 'b', 'a', 'ab', ''];
    expect([...ids].sort()).toEqual(['', 'a', 'ab', 'b', '\u{1F600}', '\uFF5E']);
    expect(sortIdsUtf8(ids)).toEqual(['', 'a', 'ab', 'b', '\uFF5E', '\u{1F600}']);
  });

  it('agrees with a byte-wise sort for any strings', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'binary' }), { maxLength: 40 }), (ids) => {
        const expected = [...ids].sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
        expect(sortIdsUtf8(ids)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses duplicate ids without naming them', () => {
    expect(() => sortIdsUtf8(['secret-id', 'x', 'secret-id'])).toThrow(/duplicate id \(position/);
    try {
      sortIdsUtf8(['secret-id', 'secret-id']);
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('secret-id');
    }
  });

  it('digests length-prefixed ids, so different splits of the same characters differ', () => {
    expect(toHex(digestIds(['ab', 'c']))).not.toBe(toHex(digestIds(['a', 'bc'])));
    expect(toHex(digestIds([]))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(toHex(digestIds(['a']))).toBe(toHex(digestIds(['a'])));
  });

  it('stops on differing digests and names counts, not ids', () => {
    const view = (ids: string[]) => ({
      kind: 'splitnn.alignment' as const,
      count: ids.length,
      digest: digestIds(ids),
      cutWidth: 1,
      meta: {},
    });
    const views = new Map([
      ['a', view(['x1', 'x2'])],
      ['b', view(['x1', 'x2', 'x3'])],
    ]);
    expect(() => checkDigests(views)).toThrow(/intersections differ \(a: 2 ids.*b: 3 ids/);
    expect(() =>
      checkDigests(
        new Map([
          ['a', view([])],
          ['b', view([])],
        ]),
      ),
    ).toThrow(/empty/);
    expect(() =>
      checkDigests(
        new Map([
          ['a', view(['q'])],
          ['b', view(['q'])],
        ]),
      ),
    ).not.toThrow();
  });

  it('splits positions deterministically from the seed, disjoint and complete', () => {
    const a = splitPositions(100, 0.2, 7);
    const b = splitPositions(100, 0.2, 7);
    const c = splitPositions(100, 0.2, 8);
    expect(a).toEqual(b);
    expect(a.validation).not.toEqual(c.validation);
    expect(a.validation.length).toBe(20);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
    expect(() => splitPositions(10, 1, 0)).toThrow(/validation fraction/);
  });

  it('looks rows up by id whatever the local order', () => {
    expect(Array.from(rowIndexFor(['a', 'b', 'c'], ['c', 'x', 'a', 'b'], 'p'))).toEqual([2, 3, 0]);
    expect(() => rowIndexFor(['a', 'z'], ['a'], 'p')).toThrow(/party "p".*not in its data/);
  });
});
