/**
 * The N-site schedule of NVIDIA FLARE 2.3's DH-PSI workflow (NVF `dh_psi_workflow.py`), as pure
 * functions: sites sorted ascending by size (stable), then rounds that pair site i with site
 * i + ⌊t/2⌋ among the t sites left (the smaller one serves, the larger one asks and keeps the
 * result); with t odd the largest site waits for the next round. The last site left holds the
 * full intersection and serves everyone in the backward pass.
 */

export interface SiteSize {
  readonly site: string;
  readonly size: number;
}

export interface Pairing {
  /** The PSI server: the smaller site. */
  readonly server: string;
  /** The PSI client: the larger site; it keeps the intersection. */
  readonly client: string;
}

/** Ascending by size; equal sizes keep their given order. */
export function sortBySize(sites: readonly SiteSize[]): SiteSize[] {
  return sites
    .map((s, i) => ({ s, i }))
    .sort((a, b) => a.s.size - b.s.size || a.i - b.i)
    .map(({ s }) => s);
}

/** One forward round over sites sorted ascending: the pairs, and the site that waits. */
export function forwardRound(sorted: readonly SiteSize[]): {
  pairs: Pairing[];
  waiting: SiteSize | null;
} {
  const t = sorted.length;
  const half = Math.floor(t / 2);
  const pairs: Pairing[] = [];
  for (let i = 0; i < half; i++) {
    pairs.push({ server: sorted[i]!.site, client: sorted[i + half]!.site });
  }
  return { pairs, waiting: t % 2 === 1 ? sorted[t - 1]! : null };
}
