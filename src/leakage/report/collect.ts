/** Reads the leakage filter's per-round JSON files back from a run's workspace. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LeakageScore } from '../leakage-filter.js';

/** Site → scores ordered by round, from `<workspace>/<site>/leakage/rdlv_round<N>.json`. */
export async function collectScores(workspace: string): Promise<Record<string, LeakageScore[]>> {
  const out: Record<string, LeakageScore[]> = {};
  let entries: string[];
  try {
    entries = await readdir(workspace);
  } catch {
    return out;
  }
  for (const site of entries.sort()) {
    const dir = join(workspace, site, 'leakage');
    let files: string[];
    try {
      files = await readdir(dir);
    } catch {
      continue;
    }
    const scores: LeakageScore[] = [];
    for (const f of files.filter((n) => /^rdlv_round\d+\.json$/.test(n))) {
      scores.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as LeakageScore);
    }
    if (scores.length > 0) out[site] = scores.sort((a, b) => a.round - b.round);
  }
  return out;
}
