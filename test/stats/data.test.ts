import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNumericCsv } from '../../src/stats/data.js';

const dir = mkdtempSync(join(tmpdir(), 'vflare-stats-data-'));

describe('reading a site CSV', () => {
  it('names a missing file and says it does not exist', async () => {
    await expect(readNumericCsv(join(dir, 'nope.csv'), 'of site s1')).rejects.toThrow(
      /data file of site s1 \(.*nope\.csv\) does not exist/,
    );
  });

  it('refuses bytes that are not UTF-8 instead of replacing them', async () => {
    const path = join(dir, 'latin1.csv');
    writeFileSync(
      path,
      Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(',x\n1,2\n')]),
    );
    await expect(readNumericCsv(path, 'of site s1')).rejects.toThrow(
      /data file of site s1 is not valid UTF-8/,
    );
  });
});
