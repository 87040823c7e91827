import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { defaultRegistry } from '../../../src/components.js';
import { loadJob } from '../../../src/runtime/jobs/load.js';
import { resolveDataPath } from '../../../src/runtime/jobs/paths.js';
import { operatorDataDir } from '../../../src/runtime/jobs/simulate.js';
import { substitute } from '../../../src/runtime/jobs/validate.js';
import { loadPartyData } from '../../../src/splitnn/data.js';
import { captureIo as capture } from '../../cli/capture.js';
import { jobFolder, meta, serverCfg } from './helpers.js';

/** Big-endian IDX header: two zero bytes, type 0x08 (uint8), the number of dimensions. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return gzipSync(Buffer.concat([head, Buffer.from(data)]));
}

/**
 * Writes `<part>-images/labels` of 2×2 images whose class (2 or 4, alternating) is written in
 * the brightness of the first two pixels, so a linear model separates them exactly.
 */
function writePart(dir: string, part: string, rows: number): void {
  const images = new Uint8Array(rows * 4);
  const labels = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const cls = r % 2 === 0 ? 2 : 4;
    labels[r] = cls;
    images.set(cls === 2 ? [250, 10, (r * 7) % 256, 30] : [10, 250, (r * 11) % 256, 30], r * 4);
  }
  writeFileSync(join(dir, `${part}-images-idx3-ubyte.gz`), idx([rows, 2, 2], images));
  writeFileSync(join(dir, `${part}-labels-idx1-ubyte.gz`), idx([rows], labels));
}

function dataDir(parts: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-'));
  for (const [part, rows] of Object.entries(parts)) writePart(dir, part, rows);
  return dir;
}

const quiet = ['simulate', '--log-level', 'silent'];
const ws = () => join(mkdtempSync(join(tmpdir(), 'ws-')), 'ws');

describe('operator data folders (--data-dir)', () => {
  it('lets a data path resolve inside a granted folder and nowhere else outside the root', () => {
    const granted = mkdtempSync(join(tmpdir(), 'granted-'));
    const env = { site: 'site-1', dataRoot: '/srv/data', trustedDataDirs: [granted] };
    expect(resolveDataPath(env, join(granted, 'a.gz'))).toBe(join(granted, 'a.gz'));
    expect(() => resolveDataPath(env, '/etc/passwd')).toThrow(/leaves the data root/);
    expect(() => resolveDataPath(env, join(granted, '..', 'x'))).toThrow(/leaves the data root/);
    expect(resolveDataPath(env, 'x/y')).toBe(resolve('/srv/data/x/y'));
  });

  it('substitutes job variables in one pass and leaves unknown braces alone', () => {
    const vars = { site: 's1', job: 'j', dir: '{site}-x' };
    expect(substitute({ a: '{dir}/{site}', b: ['{nope}', 3] }, vars)).toEqual({
      a: '{site}-x/s1',
      b: ['{nope}', 3],
    });
  });

  it('refuses a dataDir naming undeclared variables', async () => {
    const dir = jobFolder({
      'meta.json': meta({
        vars: { d: 'data' },
        dataDir: { var: 'dd', files: ['a'], set: { p: 'x' } },
      }),
      'app/config/server.json': serverCfg,
      'app/config/client.json': {
        executors: [{ executor: { type: 'stats.StatsExecutor', args: { data: '{d}/a.csv' } } }],
      },
    });
    await expect(loadJob(dir, defaultRegistry())).rejects.toThrow(
      /variable "dd" is not declared in vars[\s\S]*variable "p" is not declared/,
    );
  });

  it('names every missing file, exits 1 without a stack', async () => {
    const dir = dataDir({ train: 10 });
    const io = capture();
    const code = await main(
      ['simulate', 'examples/linear-fashion', '--data-dir', dir, '--workspace', ws()],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr()).toContain('lacks t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz');
    expect(io.stderr()).not.toMatch(/\n\s+at /);
    const io2 = capture();
    const empty = mkdtempSync(join(tmpdir(), 'empty-'));
    expect(await main(['simulate', 'examples/splitnn-fashion', '--data-dir', empty], io2)).toBe(1);
    expect(io2.stderr()).toContain('lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz');
  });

  it('refuses --data-dir for a job that does not declare a data folder', async () => {
    const io = capture();
    const code = await main(['simulate', 'examples/hello-stats', '--data-dir', tmpdir()], io);
    expect(code).toBe(1);
    expect(io.stderr()).toContain('does not declare a data folder');
  });

  it('trains linear-fashion on the train file and validates on the t10k file', async () => {
    const dir = dataDir({ train: 2000, t10k: 400 });
    const workspace = ws();
    const io = capture();
    const code = await main(
      ['simulate', 'examples/linear-fashion', '--data-dir', dir, '--workspace', workspace],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(join(workspace, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('completed');
    for (const site of ['site-1', 'site-5']) {
      expect(summary.sites[site].metrics.accuracy).toBeGreaterThan(0.95);
    }
  });

  it('reads training rows from train-* and validation rows from t10k-*', async () => {
    // Too few t10k rows for the validation range [0, 400): the run must fail on them.
    const shortValid = dataDir({ train: 2000, t10k: 300 });
    const io = capture();
    const code = await main(
      [...quiet, 'examples/forest-fashion', '--data-dir', shortValid, '--workspace', ws()],
      io,
    );
    expect(code).toBe(1);
    expect(io.stdout() + io.stderr()).toMatch(/valid rows \[0, 400\) do not fit the 300 rows/);
    // Too few train rows for the training ranges (up to 2000).
    const shortTrain = dataDir({ train: 1500, t10k: 400 });
    const io2 = capture();
    expect(
      await main(
        [...quiet, 'examples/forest-fashion', '--data-dir', shortTrain, '--workspace', ws()],
        io2,
      ),
    ).toBe(1);
    expect(io2.stdout() + io2.stderr()).toMatch(/train rows \[\d+, \d+\) do not fit the 1500/);
  });

  it('runs forest-fashion on a full data folder', async () => {
    const dir = dataDir({ train: 2000, t10k: 400 });
    const workspace = ws();
    const io = capture();
    const code = await main(
      ['simulate', 'examples/forest-fashion', '--data-dir', dir, '--workspace', workspace],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
  });

  it('points splitnn-fashion at the train part of the given folder', async () => {
    const dir = dataDir({ train: 50 });
    const { job } = await loadJob('examples/splitnn-fashion', defaultRegistry());
    const { vars } = operatorDataDir(job, dir);
    const client = job.apps['app']?.client;
    const site2 = client?.sites['site-2']?.['splitnn'];
    const args = substitute(
      { ...client?.executors[1]?.executor.args, ...site2 },
      { ...vars, site: 'site-2', job: job.meta.name },
    ) as { data: Parameters<typeof loadPartyData>[0] };
    expect(args.data).toMatchObject({ dir, part: 'train', take: 'labels' });
    const party = loadPartyData(args.data, '/nonexistent-root', 'site-2');
    expect(party.ids).toHaveLength(50);
    expect(Array.from(party.labels?.values.subarray(0, 4) ?? [])).toEqual([2, 4, 2, 4]);
    // Without --data-dir the job keeps its vendored default.
    expect(job.meta.vars).toEqual({ fashionDir: 'data/fashion-mnist', fashionPart: 't10k' });
  });
});
