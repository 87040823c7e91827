import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseCsv } from '../../src/traditional-ml/data/csv.js';
import { parseIdx } from '../../src/traditional-ml/data/idx.js';
import { clientRanges, splitSizes } from '../../src/traditional-ml/data/splits.js';
import { createRng, permutation } from '../../src/traditional-ml/random/index.js';

describe('client splits', () => {
  test('match the reference size vectors for 100 rows and 3 clients', () => {
    expect(splitSizes(100, 3, 'uniform')).toEqual([33, 33, 34]);
    expect(splitSizes(100, 3, 'linear')).toEqual([16, 33, 51]);
    expect(splitSizes(100, 3, 'square')).toEqual([7, 28, 65]);
    expect(splitSizes(100, 3, 'exponential')).toEqual([9, 24, 67]);
  });

  test('match the reference size vectors for 1000 rows and 5 clients', () => {
    expect(splitSizes(1000, 5, 'linear')).toEqual([66, 133, 200, 266, 335]);
    expect(splitSizes(1000, 5, 'square')).toEqual([18, 72, 163, 290, 457]);
    expect(splitSizes(1000, 5, 'exponential')).toEqual([11, 31, 86, 234, 638]);
  });

  test('match the HIGGS random-forest split of 10 million rows', () => {
    expect(splitSizes(10_000_000, 5, 'exponential')).toEqual([
      116562, 316849, 861285, 2341216, 6364088,
    ]);
  });

  test('give the breast-cancer SVM example its validation block and three client blocks', () => {
    const r = clientRanges(569, 3, 'uniform', { validFraction: 0.2 });
    expect(r.validation).toEqual({ start: 0, end: 114 });
    expect(r.clients).toEqual([
      { start: 114, end: 265 },
      { start: 265, end: 416 },
      { start: 416, end: 569 },
    ]);
  });

  test('with validation fraction 1 validate on every row and train on the whole file', () => {
    const r = clientRanges(150, 3, 'uniform', { validFraction: 1 });
    expect(r.validation).toEqual({ start: 0, end: 150 });
    expect(r.clients.map((c) => [c.start, c.end])).toEqual([
      [0, 50],
      [50, 100],
      [100, 150],
    ]);
  });

  test('always cover every row exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom('uniform', 'linear', 'square', 'exponential' as const),
        (n, k, m) => {
          const s = splitSizes(n, k, m);
          return s.length === k && s.every((v) => v >= 0) && s.reduce((a, b) => a + b, 0) === n;
        },
      ),
    );
  });

  test('reject an unknown method and a client count of zero', () => {
    expect(() => splitSizes(10, 0, 'uniform')).toThrow(/client count/);
    expect(() => splitSizes(10, 2, 'cubic' as 'uniform')).toThrow(/unknown method "cubic"/);
  });
});

describe('CSV loader', () => {
  test('reads a scikit-learn file: the header line is recognised, every data row is kept', () => {
    const { dataset, classNames } = parseCsv('3,2,neg,pos\n1,2,0\n3,4,1\n5,6,1\n');
    expect(dataset.rows).toBe(3);
    expect(dataset.cols).toBe(2);
    expect(Array.from(dataset.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(dataset.y)).toEqual([0, 1, 1]);
    expect(classNames).toEqual(['neg', 'pos']);
  });

  test('never eats the first data row of a headerless file as a header', () => {
    const { dataset, header } = parseCsv('1,0.5,2\n0,1.5,3\n', { label: 'first' });
    expect(header).toBeUndefined();
    expect(dataset.rows).toBe(2);
    expect(Array.from(dataset.y)).toEqual([1, 0]);
    expect(Array.from(dataset.x)).toEqual([0.5, 2, 1.5, 3]);
  });

  test('refuses a scikit-learn header that disagrees with the rows', () => {
    expect(() => parseCsv('5,2,a,b\n1,2,0\n')).toThrow(/announces 5 rows × 2 features/);
  });

  test('names the row and column of a non-numeric field without quoting it', () => {
    const err = (() => {
      try {
        parseCsv('1,2,0\n3,secret,1\n');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toMatch(/data row 2, column 2 is not a finite number/);
    expect(err?.message).not.toMatch(/secret/);
  });

  test('refuses rows of different widths', () => {
    expect(() => parseCsv('1,2,0\n3,1\n')).toThrow(/data row 2 has 2 fields, expected 3/);
  });

  test('refuses a first data row with a bad field instead of dropping it as a header', () => {
    for (const bad of ['secret7', 'NaN', 'Infinity', '']) {
      const text = `1.5,${bad},0\n3,4,1\n5,6,1\n`;
      let err: Error | undefined;
      try {
        parseCsv(text);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toMatch(/data row 1, column 2 is not a finite number/);
      if (bad !== '') expect(err?.message).not.toContain(bad);
    }
  });

  test('keeps a header of column names and refuses one whose width differs from the rows', () => {
    const { dataset, header } = parseCsv('a,b,label\n1,2,0\n3,4,1\n');
    expect(header).toEqual(['a', 'b', 'label']);
    expect(dataset.rows).toBe(2);
    expect(() => parseCsv('a,b\n1,2,0\n3,4,1\n')).toThrow(/header line has 2 fields/);
  });

  test('reads a file that starts with a byte-order mark, keeping its first row', () => {
    const { dataset, header } = parseCsv('\uFEFF1,2,0\n3,4,1\n');
    expect(header).toBeUndefined();
    expect(Array.from(dataset.x)).toEqual([1, 2, 3, 4]);
  });

  test('refuses NaN and Infinity anywhere in the data rows', () => {
    expect(() => parseCsv('1,2,0\n3,NaN,1\n')).toThrow(/data row 2, column 2/);
    expect(() => parseCsv('1,2,0\n3,4,1\n-Infinity,1,0\n')).toThrow(/data row 3, column 1/);
    expect(() => parseCsv('1,2,0\n1e999,4,1\n')).toThrow(/data row 2, column 1/);
  });
});

describe('IDX reader', () => {
  function idx(shape: number[], values: number[]): Uint8Array {
    const head = new Uint8Array(4 + 4 * shape.length);
    head.set([0, 0, 8, shape.length]);
    const view = new DataView(head.buffer);
    for (const [i, d] of shape.entries()) view.setUint32(4 + 4 * i, d, false);
    return Uint8Array.from([...head, ...values]);
  }

  test('reads shape and bytes, gzipped or not', () => {
    const raw = idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    for (const bytes of [raw, gzipSync(raw)]) {
      const a = parseIdx(bytes);
      expect(a.shape).toEqual([2, 2, 2]);
      expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });

  test('refuses a bad magic and a truncated body', () => {
    expect(() => parseIdx(Uint8Array.of(1, 2, 3, 4))).toThrow(/bad magic/);
    expect(() => parseIdx(idx([3], [1, 2]))).toThrow(/announces 3 values, the file holds 2/);
  });
});

describe('seeded generator', () => {
  test('repeats its stream for a seed and differs across seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const sa = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(sa);
  });

  test('permutations hold every index once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer(), (n, seed) => {
        const p = Array.from(permutation(n, createRng(seed))).sort((x, y) => x - y);
        return p.every((v, i) => v === i);
      }),
      { numRuns: 50 },
    );
  });
});
