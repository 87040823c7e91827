/**
 * Labelled assertion helpers. Each reports the argument's label, what was expected and what
 * arrived (its type or size, never its contents when it may be private).
 */
import { VflareError } from './errors.js';

export function fail(label: string, expected: string, got: string): never {
  throw new VflareError('INVALID_ARGUMENT', `${label}: expected ${expected}, got ${got}`);
}

export function assertInt(label: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    fail(label, 'an integer', describe(value));
  }
  if (value < min || value > max) fail(label, `an integer in [${min}, ${max}]`, String(value));
  return value;
}

export function assertFinite(label: string, value: unknown, min = -Infinity, max = Infinity) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(label, 'a finite number', describe(value));
  }
  if (value < min || value > max) fail(label, `a number in [${min}, ${max}]`, String(value));
  return value;
}

/** Describes a value's kind without revealing its contents. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : String(value);
  return typeof value;
}
