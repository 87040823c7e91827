import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchmarks, suiteNames } from '../../benchmarks/run.js';

function suitesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  mkdirSync(join(dir, 'suites'));
  writeFileSync(
    join(dir, 'suites', 'copy.ts'),
    `export default { name: 'copy', description: 'toy', async run(o) {
       o.log('running');
       const value = o.quick ? 1 : 2;
       return [{ name: 'copy 1 MB', value, unit: 'ms', peer: 'memcpy', peerValue: 0.5, ratio: 2 }];
     } };`,
  );
  writeFileSync(join(dir, 'suites', 'broken.ts'), `export default { name: 'broken' };`);
  return dir;
}

describe('benchmark runner', () => {
  it('runs the selected suites, prints a table and writes results with the machine', async () => {
    const dir = suitesDir();
    let out = '';
    const failed = await runBenchmarks({
      suites: ['copy'],
      quick: true,
      suitesDir: join(dir, 'suites'),
      resultsDir: join(dir, 'results'),
      out: (t) => {
        out += t;
      },
    });
    expect(failed).toBe(0);
    expect(out).toMatch(/copy 1 MB\s+1\s+ms\s+memcpy\s+0\.5\s+2/);
    const record = JSON.parse(readFileSync(join(dir, 'results', 'copy.json'), 'utf8'));
    expect(record.suite).toBe('copy');
    expect(Object.keys(record.machine)).toEqual(['cpus', 'model', 'node', 'os', 'date']);
    expect(record.figures[0]).toMatchObject({ name: 'copy 1 MB', value: 1, ratio: 2 });
  });

  it('runs all suites by default, reports a broken one and rejects unknown names', async () => {
    const dir = suitesDir();
    expect(await suiteNames(join(dir, 'suites'))).toEqual(['broken', 'copy']);
    let out = '';
    const failed = await runBenchmarks({
      suites: [],
      quick: false,
      suitesDir: join(dir, 'suites'),
      resultsDir: join(dir, 'results'),
      out: (t) => {
        out += t;
      },
    });
    expect(failed).toBe(1);
    expect(out).toContain(
      'suite broken failed: benchmarks/suites/broken.ts does not default-export a Suite',
    );
    await expect(
      runBenchmarks({
        suites: ['zzz'],
        quick: false,
        suitesDir: join(dir, 'suites'),
        out: () => {},
      }),
    ).rejects.toThrow('unknown suite(s): zzz; available: broken, copy');
  });
});
