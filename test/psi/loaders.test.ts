import { describe, expect, it } from 'vitest';
import {
  countDuplicates,
  formatTextItems,
  parseCsvColumn,
  parseTextItems,
} from '../../src/psi/loaders.js';

describe('item loaders', () => {
  it('reads one item per line with LF or CRLF and an optional final newline', () => {
    expect(parseTextItems('a\nb\nc')).toEqual(['a', 'b', 'c']);
    expect(parseTextItems('a\r\nb\r\nc\r\n')).toEqual(['a', 'b', 'c']);
    expect(parseTextItems('a\nb\n')).toEqual(['a', 'b']);
    expect(parseTextItems('')).toEqual([]);
  });

  it('keeps the line bytes as they are (no trimming, no Unicode normalisation)', () => {
    const items = parseTextItems(' a \ncafé\ncafe\u0301\n1.0\n1\n🙂\n');
    expect(items).toEqual([' a ', 'café', 'cafe\u0301', '1.0', '1', '🙂']);
    expect(countDuplicates(items)).toBe(0);
  });

  it('names the line number of an empty line and never the items', () => {
    expect(() => parseTextItems('secret\n\nb\n', 'x.txt')).toThrow(/x\.txt: line 2 is empty/);
    expect(() => parseTextItems('a\r\n\r\n', 'x.txt')).toThrow(/line 2 is empty/);
    expect(() => parseTextItems('\n', 'x.txt')).toThrow(/line 1 is empty/);
    try {
      parseTextItems('secret\n\nb\n', 'x.txt');
    } catch (e) {
      expect((e as Error).message).not.toMatch(/secret/);
    }
  });

  it('writes the same format back', () => {
    expect(formatTextItems(['a', 'b'])).toBe('a\nb\n');
    expect(formatTextItems([])).toBe('');
    expect(parseTextItems(formatTextItems(['x', 'café']))).toEqual(['x', 'café']);
    expect(() => formatTextItems(['a\nb'])).toThrow(/line break/);
  });

  it('reads a CSV column by header, with quoting and a BOM', () => {
    const csv = '\ufeffId,email\n1,a@x.org\n2,"b,c@x.org"\n';
    expect(parseCsvColumn(csv, 'email')).toEqual(['a@x.org', 'b,c@x.org']);
    expect(() => parseCsvColumn(csv, 'mail', 'f.csv')).toThrow(/no column "mail".*"Id", "email"/);
    expect(() => parseCsvColumn('Id,email\n1,\n', 'email', 'f.csv')).toThrow(/row 2/);
  });

  it('counts duplicates without naming them', () => {
    expect(countDuplicates(['a', 'b', 'a', 'a', 'c', 'b'])).toBe(3);
  });
});
