/**
 * Runs filters in their configured order outside a full runtime (the sweep, tests, library
 * use), appending each filter's name to `meta.filterHistory` as the engine does.
 */
import type { Filter, FilterContext, Payload } from '../../runtime/core/index.js';

export async function applyFilters(
  filters: readonly Filter[],
  payload: Payload,
  ctx: FilterContext,
): Promise<Payload> {
  let p = payload;
  for (const f of filters) {
    const out = await f.process(p, ctx);
    p = {
      ...out,
      meta: { ...out.meta, filterHistory: [...(out.meta.filterHistory ?? []), f.name] },
    } as Payload;
  }
  return p;
}
