/**
 * Generates the three sites' e-mail lists of the user-match example, deterministically (a
 * seeded xorshift; no randomness from the machine). Sizes and overlaps are those of NVIDIA
 * FLARE's user_email_match example: site-1 227, site-2 131, site-3 215 ids; 122 shared by all
 * three; pairwise 130 (1∩2), 214 (1∩3) and 123 (2∩3).
 *
 *   npx tsx examples/psi-user-match/generate.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let state = 0x2545f491;
function next(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}

const WORDS = ['river', 'maple', 'quartz', 'lumen', 'cedar', 'orbit', 'delta', 'sable', 'pixel'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net'];
const seen = new Set<string>();
function email(): string {
  for (;;) {
    const w = WORDS[Math.floor(next() * WORDS.length)]!;
    const n = Math.floor(next() * 100_000);
    const e = `${w}.${n}@${DOMAINS[Math.floor(next() * DOMAINS.length)]!}`;
    if (!seen.has(e)) {
      seen.add(e);
      return e;
    }
  }
}
const take = (n: number) => Array.from({ length: n }, email);

// Venn regions: all three 122; 1∩2 only 8; 1∩3 only 92; 2∩3 only 1; site-1 only 5.
const all = take(122);
const s12 = take(8);
const s13 = take(92);
const s23 = take(1);
const only1 = take(5);
const sites: Record<string, string[]> = {
  'site-1': [...all, ...s12, ...s13, ...only1],
  'site-2': [...all, ...s12, ...s23],
  'site-3': [...all, ...s13, ...s23],
};

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'data'), { recursive: true });
for (const [site, emails] of Object.entries(sites)) {
  const rows = shuffle(emails).map((e, i) => `${i + 1},${e}`);
  writeFileSync(join(here, 'data', `${site}.csv`), `Id,email_address\n${rows.join('\n')}\n`);
}
