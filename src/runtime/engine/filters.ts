/**
 * Runs a filter chain over a payload. The chain is the party's site-policy filters followed by
 * the job's (so a job can neither skip nor reorder what the site's policy requires); each
 * filter's name is appended to `meta.filterHistory` as it runs.
 */
import { safeMessage } from '../core/errors.js';
import type { FilterBinding, FilterContext } from '../core/filter.js';
import type { Payload } from '../core/messages.js';
import { payloadProblem } from './check.js';

export type FilterOutcome =
  | { readonly ok: true; readonly payload: Payload | null }
  | { readonly ok: false; readonly reason: string };

const NO_CHAIN: readonly FilterBinding[] = [];

/** Site policy bindings first, then the job's, keeping only those bound to `taskName`. */
export function chainFor(
  policy: readonly FilterBinding[],
  job: readonly FilterBinding[],
  taskName: string,
): readonly FilterBinding[] {
  // Asked for every task and result; most jobs have no filters at most points.
  if (policy.length === 0 && job.length === 0) return NO_CHAIN;
  const chain: FilterBinding[] = [];
  for (const b of policy) if (b.tasks === undefined || b.tasks.includes(taskName)) chain.push(b);
  for (const b of job) if (b.tasks === undefined || b.tasks.includes(taskName)) chain.push(b);
  return chain;
}

/**
 * Applies `chain` in order (`context` is only built when a filter runs). A payload of `null`
 * passes untouched (nothing to filter). A filter that throws, or returns something that is not
 * a payload, stops the chain with a safe reason.
 */
export async function applyFilters(
  chain: readonly FilterBinding[],
  payload: Payload | null,
  context: () => FilterContext,
): Promise<FilterOutcome> {
  if (payload === null || chain.length === 0) return { ok: true, payload };
  const ctx = context();
  let current: Payload = payload;
  for (const { filter } of chain) {
    let out: unknown;
    try {
      out = await filter.process(current, ctx);
    } catch (err) {
      return { ok: false, reason: `filter "${filter.name}" failed: ${safeMessage(err)}` };
    }
    const problem = payloadProblem(out);
    if (problem !== undefined) {
      return { ok: false, reason: `filter "${filter.name}" returned ${problem}` };
    }
    const next = out as Payload;
    const history = [...(next.meta?.filterHistory ?? []), filter.name];
    current = { ...next, meta: { ...next.meta, filterHistory: history } } as Payload;
  }
  return { ok: true, payload: current };
}
