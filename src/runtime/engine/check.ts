/**
 * In-process shape check of a payload an executor or filter produced, before it is trusted or
 * encoded. Mirrors what the codec validates on decode, so a malformed result is reported where
 * it was made (`execution-result-error`) instead of being dropped by the receiver.
 */
import { describe } from '../core/assert.js';

const NUMERIC = [Float32Array, Float64Array, Int32Array, Uint8Array, Uint32Array];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tensorMapProblem(value: unknown, label: string): string | undefined {
  if (!isRecord(value)) return `${label} that is ${describe(value)}, not an object of tensors`;
  for (const [key, t] of Object.entries(value)) {
    if (!isRecord(t) || !Array.isArray(t['shape'])) return `${label}.${key} without a shape`;
    const data = t['data'];
    if (!NUMERIC.some((c) => data instanceof c)) {
      return `${label}.${key} whose data is ${describe(data)}, not a numeric typed array`;
    }
    const shape = t['shape'] as unknown[];
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      return `${label}.${key} with a shape that is not a list of non-negative integers`;
    }
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if (n !== (data as ArrayLike<number>).length) {
      return (
        `${label}.${key} with ${(data as ArrayLike<number>).length} values ` +
        `for shape [${shape.join(', ')}]`
      );
    }
  }
  return undefined;
}

/** Undefined when `value` is a well-formed payload; otherwise what is wrong (no contents). */
export function payloadProblem(value: unknown, depth = 0): string | undefined {
  if (!isRecord(value) || typeof value['kind'] !== 'string') {
    return `${describe(value)}, not a payload (an object with a string "kind")`;
  }
  if (!isRecord(value['meta'])) return `a "${value['kind']}" payload without a meta object`;
  switch (value['kind']) {
    case 'weights':
    case 'weight-diff':
      return tensorMapProblem(value['weights'], 'weights');
    case 'statistics':
      return tensorMapProblem(value['stats'], 'stats');
    case 'metrics': {
      const m = value['metrics'];
      if (!isRecord(m) || !Object.values(m).every((v) => typeof v === 'number')) {
        return 'a "metrics" payload whose metrics are not all numbers';
      }
      return undefined;
    }
    case 'collection': {
      const items = value['items'];
      if (!isRecord(items)) return 'a "collection" payload without items';
      if (depth > 32) return 'a collection nested too deep';
      for (const [key, item] of Object.entries(items)) {
        const p = payloadProblem(item, depth + 1);
        if (p !== undefined) return `item "${key}": ${p}`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
