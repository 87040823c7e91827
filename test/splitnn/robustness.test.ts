/**
 * Regression tests for bad input found by trying to break split learning as a new user: each case
 * must end with an error that names the party and what to do, carries counts and positions but
 * never ids or values, and never trains or predicts on misaligned rows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/runtime/sim/index.js';
import { rowIndexFor } from '../../src/splitnn/alignment.js';
import {
  alignmentWarnings,
  checkDigests,
  SplitNNController,
} from '../../src/splitnn/controller.js';
import { loadPartyData } from '../../src/splitnn/data.js';
import { checkLabels, countNonNfc, loadHalf, SplitNNExecutor } from '../../src/splitnn/executor.js';
import type { SplitAlignmentPayload } from '../../src/splitnn/messages.js';
import { initBackend } from '../../src/tf/index.js';
import {
  clientApp,
  FixedIntersectionExecutor,
  FixedIntersectionWorkflow,
  serverApp,
  tinyBottom,
} from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vflare-splitnn-bad-'));

function view(count: number, records: number, nonNfcIds = 0): SplitAlignmentPayload {
  return {
    kind: 'splitnn.alignment',
    count,
    digest: new Uint8Array(32),
    cutWidth: 1,
    records,
    nonNfcIds,
    meta: {},
  };
}

describe('bad input to split learning', () => {
  it('refuses an empty CSV cell instead of reading it as zero, naming line and column', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'f.csv'), 'id,x,y\nsecret-1,1,2\nsecret-2,,4\n');
    const run = () => loadPartyData({ format: 'csv', path: 'f.csv' }, dir, 'bank');
    expect(run).toThrow(/party "bank": .*f.csv line 3, column "x" is empty; fill in or drop/);
    expect(run).toThrow(expect.objectContaining({ code: 'INVALID_DATA' }));
    expect(run).not.toThrow(/secret/);
    writeFileSync(join(dir, 'l.csv'), 'id,label\nsecret-1,1\nsecret-2,\n');
    expect(() =>
      loadPartyData({ format: 'csv', path: 'l.csv', labelColumn: 'label' }, dir, 'lab'),
    ).toThrow(/l.csv line 3: labels must be class indices/);
    writeFileSync(join(dir, 'n.csv'), 'id,x\nsecret-1,NaN\n');
    expect(() => loadPartyData({ format: 'csv', path: 'n.csv' }, dir, 'bank')).toThrow(
      /line 2, column "x" is not a number/,
    );
  });

  it('reads inference columns by their training names, whatever their order in the file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.csv'), 'id,x,y\na,1,10\nb,3,30\n');
    const trained = loadPartyData({ format: 'csv', path: 'train.csv' }, dir, 'bank');
    expect(trained.scaling?.columns).toEqual(['x', 'y']);
    // Spreadsheet exports often start with a UTF-8 byte-order mark; PSI's loader skips it too.
    writeFileSync(join(dir, 'new.csv'), '\ufeffy,id,x\n30,c,1\n');
    const fresh = loadPartyData({ format: 'csv', path: 'new.csv' }, dir, 'bank', trained.scaling);
    expect(Array.from(fresh.features?.data ?? [])).toEqual([-1, 1]);
    writeFileSync(join(dir, 'short.csv'), 'id,y,z\nc,30,5\n');
    expect(() =>
      loadPartyData({ format: 'csv', path: 'short.csv' }, dir, 'bank', trained.scaling),
    ).toThrow(/party "bank": .*short.csv lacks 1 feature column\(s\) .*\("x"\)/);
  });

  it('refuses a party whose data repeats an id, with the count and not the id', () => {
    const run = () => rowIndexFor(['a', 'b'], ['b', 'secret-a', 'a', 'b', 'b'], 'insurer');
    expect(run).toThrow(/party "insurer": its data lists 2 id\(s\) more than once/);
    expect(run).not.toThrow(/secret|"b"/);
    expect(Array.from(rowIndexFor(['a', 'b'], ['b', 'x', 'a'], 'p'))).toEqual([2, 0]);
  });

  it('refuses labels the top network cannot predict, by count and row, not value', () => {
    const data = {
      ids: ['a', 'b', 'c'],
      labels: { values: Int32Array.of(0, 7, 2), numClasses: 8 },
    };
    expect(() => checkLabels(data, 2, 'lab')).toThrow(
      /label party "lab": 2 record\(s\) have a class outside 0–1 .*first at data row 2.*widen/,
    );
    expect(() => checkLabels(data, 2, 'lab')).not.toThrow(/7/);
    expect(() => checkLabels(data, 8, 'lab')).not.toThrow();
  });

  it('explains an empty intersection from counts, pointing at mixed Unicode normal forms', () => {
    const nfc = 'Jos\u00e9';
    const nfd = 'Jose\u0301';
    expect(nfc).not.toBe(nfd);
    expect(countNonNfc([nfc, 'plain'])).toBe(0);
    expect(countNonNfc([nfd, nfd, 'plain'])).toBe(2);
    const mixed = new Map([
      ['a', view(0, 5)],
      ['b', view(0, 4, 4)],
    ]);
    expect(() => checkDigests(mixed)).toThrow(
      /intersection is empty: no record id is held by every party \(a: 5 records, b: 4 records\)/,
    );
    expect(() => checkDigests(mixed)).toThrow(/b has 4 id\(s\) not in NFC.*normalise every id/);
    const same = new Map([
      ['a', view(0, 5)],
      ['b', view(0, 4)],
    ]);
    expect(() => checkDigests(same)).not.toThrow(/NFC/);
  });

  it('warns, with counts, about records to predict that not every party holds', () => {
    const views = new Map([
      ['a', view(6, 7)],
      ['b', view(6, 6)],
    ]);
    expect(alignmentWarnings(views, 'predict')).toEqual([
      expect.stringMatching(/1 of the 7 records at "a" are not held by every party/),
    ]);
    expect(alignmentWarnings(views, 'train')).toEqual([]);
  });

  it('refuses a saved half whose network is not the one the job configures', () => {
    const dir = tmp();
    const path = join(dir, 'bottom-half.json');
    const weights = {
      'dense0/kernel': { shape: [784, 4], data: { float32: '' } },
    };
    writeFileSync(
      path,
      JSON.stringify({
        format: 'vflare.splitnn.half/1',
        site: 'fa',
        role: 'bottom',
        bottom: { spec: tinyBottom(784), weights },
      }),
    );
    expect(() => loadHalf(path, 'fa', 'bottom', tinyBottom(4))).toThrow(
      /the bottom network saved in .*\(\[784\] → dense 4\) is not the one this job configures \(\[4\] → dense 4\); it comes from another job/,
    );
    expect(() => loadHalf(path, 'fa', 'top')).toThrow(/holds no top network; give --model/);
    expect(() => loadHalf(join(dir, 'none.json'), 'fa', 'bottom')).toThrow(
      /cannot read its saved half .*none.json; give --model/,
    );
    writeFileSync(join(dir, 'cut.json'), '{"format": "vflare.splitnn.half/1", "bott');
    expect(() => loadHalf(join(dir, 'cut.json'), 'fa', 'bottom')).toThrow(
      /its saved half .*cut.json is not valid JSON \(damaged or truncated\)/,
    );
  });
});

describe('job paths of the split-learning executor', () => {
  it('are confined to the data root, data and saved half alike', async () => {
    const { splitnnExecutor } = await import('../../src/splitnn/components.js');
    const env = {
      site: 'fa',
      dataRoot: '/srv/data',
      jobDir: '/job',
      workspace: '/ws',
      seed: 0,
      logger: (await import('../../src/runtime/core/index.js')).silentLogger,
      resolve: () => undefined,
    };
    const make = (args: Record<string, unknown>) =>
      splitnnExecutor.create(splitnnExecutor.args.parse(args), env);
    expect(make({ data: { format: 'csv', path: 'fa.csv' } }).tasks.length).toBeGreaterThan(0);
    const escapes = [
      { data: { format: 'csv', path: '../fa.csv' } },
      { data: { format: 'idx', dir: '/etc', part: 't10k', take: 'images' } },
      { data: { format: 'cifar10', files: ['ok.bin', '../../x.bin'], take: 'labels' } },
      { data: { format: 'csv', path: 'fa.csv' }, model: '/tmp/other/bottom-half.json' },
    ];
    for (const args of escapes) {
      expect(() => make(args)).toThrow(/leaves the data root of site fa/);
    }
  });
});

describe('bad input over the simulator', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  async function run(ids: string[], labels: string, intersection: string[]) {
    const dir = tmp();
    writeFileSync(join(dir, 'fa.csv'), `id,x\n${ids.map((id, i) => `${id},${i}`).join('\n')}\n`);
    writeFileSync(join(dir, 'lab.csv'), `id,label\n${labels}\n`);
    const sites = ['fa', 'lab'];
    return runSimulation({
      job: 'splitnn-bad',
      sites,
      workspace: tmp(),
      dataRoot: dir,
      seed: 3,
      heartbeatIntervalMs: 200,
      longPollMs: 200,
      byeTimeoutMs: 1_000,
      server: serverApp([
        new FixedIntersectionWorkflow(sites),
        new SplitNNController({ labelParty: 'lab', steps: 5, batchSize: 4 }),
      ]),
      clients: (env) =>
        clientApp([
          new FixedIntersectionExecutor(intersection),
          new SplitNNExecutor(
            env.site === 'fa'
              ? { data: { format: 'csv', path: 'fa.csv' }, bottom: tinyBottom(1), backend: 'wasm' }
              : {
                  data: {
                    format: 'csv',
                    path: 'lab.csv',
                    labelColumn: 'label',
                    featureColumns: [],
                  },
                  top: { inputShape: [4], layers: [{ type: 'dense', units: 2 }] },
                  backend: 'wasm',
                },
          ),
        ]),
    });
  }

  it('stops with one clear error, before training, when no id is shared', async () => {
    const summary = await run(['r1', 'r2'], 'q1,0\nq2,1\nq3,0', []);
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(
      /intersection is empty: no record id is held by every party \(fa: 2 records, lab: 3 records\)/,
    );
  });

  it('stops at alignment when a label is a class the top cannot output', async () => {
    const summary = await run(['r1', 'r2'], 'r1,0\nr2,5', ['r1', 'r2']);
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(/label party "lab": 1 record\(s\) have a class outside 0–1/);
  });
});
