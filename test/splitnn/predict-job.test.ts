import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toPredictJob } from '../../src/cli/commands/splitnn.js';

const copyOf = (example: string) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vflare-predict-job-')), example);
  cpSync(join('examples', example), dir, { recursive: true });
  return dir;
};

describe('rewriting a trained job for vertical inference', () => {
  it('points every site at its own half and the given CSVs, dropping the label column', () => {
    const dir = copyOf('vertical-breast-cancer');
    const label = toPredictJob(dir, '/m', new Map([['site-3', '/new/ids.csv']]));
    expect(label).toBe('site-3');
    const server = JSON.parse(readFileSync(join(dir, 'app/config/server.json'), 'utf8'));
    expect(server.workflows[1].args.mode).toBe('predict');
    const client = JSON.parse(readFileSync(join(dir, 'app/config/client.json'), 'utf8'));
    expect(client.sites['site-1'].splitnn.model).toBe('/m/site-1/splitnn/bottom-half.json');
    expect(client.sites['site-3'].splitnn.model).toBe('/m/site-3/splitnn/top-half.json');
    expect(client.sites['site-3'].splitnn.data).toEqual({
      format: 'csv',
      path: '/new/ids.csv',
      idColumn: 'id',
      featureColumns: [],
    });
    expect(client.sites['site-3'].psi.path).toBe('/new/ids.csv');
  });

  it('refuses a site the job does not have', () => {
    const dir = copyOf('vertical-breast-cancer');
    expect(() => toPredictJob(dir, '/m', new Map([['site-9', '/x.csv']]))).toThrow(
      /--site site-9: not a site of this job \(sites: site-1, site-2, site-3\)/,
    );
  });

  it('refuses a CSV for a site whose data is not CSV, instead of predicting on its old records', () => {
    const dir = copyOf('splitnn-fashion');
    expect(() => toPredictJob(dir, '/m', new Map([['site-1', '/x.csv']]))).toThrow(
      /--site site-1: this site's split-learning data is "idx", not CSV/,
    );
  });
});
