/**
 * A run writes its outputs (summary, models, per-site files) into a workspace folder. Writing a
 * second run into a folder that already holds one would mix the two: a new summary beside an
 * older model, or a site's result left over from a run it was not part of. So a workspace that
 * holds a run's `summary.json` is refused, and an empty path is refused rather than read as the
 * current folder.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VflareError } from '../core/errors.js';

export function freshWorkspace(path: string, flag = 'workspace'): string {
  if (path.trim() === '') {
    throw new VflareError('INVALID_ARGUMENT', `${flag}: empty path; name the output folder`);
  }
  const ws = resolve(path);
  if (existsSync(join(ws, 'summary.json'))) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `${flag}: ${ws} already holds a run (summary.json); choose a new folder or delete it ` +
        'first, so that the outputs of two runs do not mix',
    );
  }
  return ws;
}
