import {
  collectingLogger,
  type FilterContext,
  type Payload,
  type SiteContext,
  type SiteContextEntries,
  TypedStore,
} from '../../src/runtime/core/index.js';

export function filterContext(
  overrides: Partial<FilterContext> = {},
): FilterContext & { logs: ReturnType<typeof collectingLogger> } {
  const logs = collectingLogger();
  const siteContext: SiteContext = new TypedStore<SiteContextEntries>();
  return {
    point: 'client-result-out',
    site: 'site-1',
    peer: 'server',
    jobId: 'job',
    taskName: 'train',
    round: 0,
    globalModel: null,
    siteContext,
    workspace: '/tmp/vflare-leakage-test',
    logger: logs,
    logs,
    ...overrides,
  };
}

export function diffPayload(
  weights: Record<string, number[] | Float32Array>,
  steps?: number,
): Payload {
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, v] of Object.entries(weights)) {
    const data = Float32Array.from(v);
    w[k] = { shape: [data.length], data };
  }
  return {
    kind: 'weight-diff',
    weights: w,
    meta: steps === undefined ? {} : { numStepsCurrentRound: steps },
  };
}
