/**
 * Typed, per-site state that parts of a job share without string-keyed bags. Both registries
 * are open interfaces that modules extend by declaration merging, so every key has one type.
 */

/**
 * What a site's learner publishes for the site's own filters (never sent anywhere): its
 * hyper-parameters, an accessor for its local training data, and so on. Modules add entries:
 * `declare module '…/context.js' { interface SiteContextEntries { learner: LearnerInfo } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: extended by declaration merging
export interface SiteContextEntries {}

/**
 * What one workflow of a job leaves at a site for the next workflow of the same job (the PSI
 * intersection that split learning reads, for example).
 */
// biome-ignore lint/suspicious/noEmptyInterface: extended by declaration merging
export interface JobStateEntries {}

/** A typed key-value store over one of the registries above. */
export class TypedStore<E extends object> {
  readonly #values = new Map<keyof E, unknown>();

  set<K extends keyof E>(key: K, value: E[K]): void {
    this.#values.set(key, value);
  }

  get<K extends keyof E>(key: K): E[K] | undefined {
    return this.#values.get(key) as E[K] | undefined;
  }

  has(key: keyof E): boolean {
    return this.#values.has(key);
  }

  delete(key: keyof E): void {
    this.#values.delete(key);
  }
}

export type SiteContext = TypedStore<SiteContextEntries>;
export type JobState = TypedStore<JobStateEntries>;
