import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/output.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function io(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false };
}

const data = join(import.meta.dirname, '..', '..', 'examples', 'psi-user-match', 'data');

describe('vflare psi', () => {
  it('runs the user-match example: 122 shared ids at all three sites', async () => {
    const out = await mkdtemp(join(tmpdir(), 'vflare-psi-cli-'));
    dirs.push(out);
    const sink = io();
    const code = await main(
      [
        'psi',
        ...['site-1', 'site-2', 'site-3'].flatMap((s) => [
          '--site',
          `${s}=${join(data, `${s}.csv`)}`,
        ]),
        '--column',
        'email_address',
        '--out',
        out,
        '--json',
      ],
      sink,
    );
    expect(sink.stderr.join('')).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(sink.stdout.join('')) as {
      sites: Record<string, { items: number; intersection: number }>;
      seconds: number;
    };
    expect(json.sites).toEqual({
      'site-1': { items: 227, intersection: 122 },
      'site-2': { items: 131, intersection: 122 },
      'site-3': { items: 215, intersection: 122 },
    });
    expect(json.seconds).toBeGreaterThan(0);
    const files = await Promise.all(
      ['site-1', 'site-2', 'site-3'].map((s) =>
        readFile(join(out, s, 'psi', 'intersection.txt'), 'utf8'),
      ),
    );
    const sorted = files.map((f) => f.trimEnd().split('\n').sort());
    expect(sorted[0]).toHaveLength(122);
    expect(sorted[1]).toEqual(sorted[0]);
    expect(sorted[2]).toEqual(sorted[0]);
  });

  it('explains bad flags: one site, a CSV without --column, a bad fpr or mode', async () => {
    const cases: [string[], RegExp][] = [
      [['--site', 'a=x.txt'], /at least two sites/],
      [['--site', 'a=x.csv', '--site', 'b=y.txt'], /--column/],
      [['--site', 'a=x.txt', '--site', 'b=y.txt', '--fpr', '2'], /--fpr/],
      [
        ['--site', 'a=x.txt', '--site', 'b=y.txt', '--mode', 'slow'],
        /--mode: expected openmined or fast/,
      ],
      [['--site', 'a', '--site', 'b=y.txt'], /NAME=PATH/],
    ];
    for (const [args, pattern] of cases) {
      const sink = io();
      expect(await main(['psi', ...args, '--out', '/tmp/unused'], sink)).toBe(1);
      expect(sink.stderr.join('')).toMatch(pattern);
    }
  });
});
