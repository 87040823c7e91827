/**
 * Per-site privacy ledgers that the privacy filters publish to the site context, so the site
 * (its operators, its own components) can read what it has spent. Never sent anywhere.
 */
import type { RdpAccountant } from '../dp/rdp.js';

export interface LedgerEntry {
  readonly round: number | undefined;
  readonly mechanism: string;
  /** Pure ε spent by this release (sequential composition adds them). */
  readonly epsilon: number;
}

/** Pure-ε ledger with basic sequential composition (what SVT spends). */
export class EpsilonLedger {
  readonly #entries: LedgerEntry[] = [];

  record(entry: LedgerEntry): void {
    this.#entries.push(entry);
  }

  get entries(): readonly LedgerEntry[] {
    return this.#entries.slice();
  }

  /** Total ε spent so far (sum over releases). */
  get total(): number {
    return this.#entries.reduce((s, e) => s + e.epsilon, 0);
  }
}

/** What the Gaussian mechanism publishes: its accountant and the δ it reports at. */
export interface GaussianPrivacyLedger {
  readonly accountant: RdpAccountant;
  readonly delta: number;
  /** (ε, δ) spent so far at `delta`. */
  spent(): { readonly epsilon: number; readonly delta: number; readonly rounds: number };
}

declare module '../../runtime/core/context.js' {
  interface SiteContextEntries {
    /** ε ledger of the site's SVT filter. */
    'leakage.svtLedger': EpsilonLedger;
    /** RDP accountant of the site's Gaussian-mechanism filter. */
    'leakage.gaussianLedger': GaussianPrivacyLedger;
  }
}
