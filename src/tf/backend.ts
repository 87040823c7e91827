/**
 * The one TensorFlow.js set-up every vflare module shares. Backend choice, best first:
 *
 * 1. `tensorflow` (native, from `@tensorflow/tfjs-node`) when the user installed that optional
 *    peer package; it is loaded by dynamic import so vflare itself never depends on native
 *    binaries (their download would cost every install several seconds, or fail offline).
 * 2. `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD under Node 20; threads are unavailable in
 *    Node), with vflare's `Conv2DBackpropFilter` kernel added so convolutions train.
 * 3. `cpu`, the pure-JS backend, always present.
 *
 * The .wasm binaries are read from the installed package's `dist/` folder: no network.
 *
 * TensorFlow.js's production mode is switched on first (`tf.enableProdMode()`; in tfjs-core 4.x
 * the `PROD` flag only silences its console output): otherwise the cpu backend prints an
 * "install tfjs-node" banner to stderr on its first tensor, in the middle of vflare's own
 * output. Set `VFLARE_TF_VERBOSE=1` to keep TensorFlow.js's console messages.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { VflareError } from '../runtime/core/errors.js';
import type { Logger } from '../runtime/core/logger.js';
import { registerWasmConv2DBackpropFilter } from './conv2d-backprop-filter.js';

/** What a caller may ask for; `auto` takes the best available (native, wasm, cpu). */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
/** The backends vflare can end up on. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Default `auto`, or the `VFLARE_TF_BACKEND` environment variable when set. */
  readonly preference?: BackendPreference;
  /** Told once per process which backend is in use (info level). */
  readonly logger?: Logger;
}

const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];
let pending: Promise<BackendName> | undefined;
let pendingPreference: BackendPreference | undefined;
let logged = false;
let wasmPathsSet = false;

/**
 * Selects and initialises the backend. Idempotent: later calls with the same preference return
 * the same backend; a different explicit preference switches (tensors created before a switch
 * move over lazily, as TF.js does).
 */
export async function initBackend(
  preferenceOrOptions: BackendPreference | InitBackendOptions = {},
): Promise<BackendName> {
  const options =
    typeof preferenceOrOptions === 'string'
      ? { preference: preferenceOrOptions }
      : preferenceOrOptions;
  const preference = options.preference ?? envPreference() ?? 'auto';
  if (!PREFERENCES.includes(preference)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `TensorFlow.js backend: expected one of ${PREFERENCES.join(', ')}, ` +
        `got "${String(preference)}"`,
    );
  }
  quietTfjs();
  if (pending === undefined || pendingPreference !== preference) {
    pendingPreference = preference;
    pending = select(preference);
  }
  const name = await pending;
  if (!logged && options.logger !== undefined) {
    logged = true;
    const simd = name === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined;
    options.logger.info({ backend: name, ...(simd === undefined ? {} : { simd }) }, 'tfjs backend');
  }
  return name;
}

/** The backend currently active (after `initBackend`). */
export function currentBackend(): string {
  return tf.getBackend();
}

/** Silences TensorFlow.js's console messages unless `VFLARE_TF_VERBOSE` is set. */
export function quietTfjs(): void {
  const verbose = process.env['VFLARE_TF_VERBOSE'];
  if ((verbose === undefined || verbose === '' || verbose === '0') && !tf.env().getBool('PROD')) {
    tf.enableProdMode();
  }
}

function envPreference(): BackendPreference | undefined {
  const value = process.env['VFLARE_TF_BACKEND'];
  return value === undefined || value === '' ? undefined : (value as BackendPreference);
}

async function select(preference: BackendPreference): Promise<BackendName> {
  if (preference === 'auto' || preference === 'tensorflow') {
    if (await tryNative()) return 'tensorflow';
    if (preference === 'tensorflow') {
      throw new VflareError(
        'UNSUPPORTED',
        'TensorFlow.js backend "tensorflow" needs the optional package @tensorflow/tfjs-node; ' +
          'install it, or choose "wasm" or "cpu"',
      );
    }
  }
  if (preference === 'auto' || preference === 'wasm') {
    if (await tryWasm()) return 'wasm';
    if (preference === 'wasm') {
      throw new VflareError('UNSUPPORTED', 'TensorFlow.js backend "wasm" failed to initialise');
    }
  }
  if (!(await tf.setBackend('cpu'))) {
    throw new VflareError('INTERNAL', 'TensorFlow.js cpu backend failed to initialise');
  }
  return 'cpu';
}

async function tryNative(): Promise<boolean> {
  try {
    // A variable specifier keeps bundlers and tsc from resolving the optional package.
    const specifier = '@tensorflow/tfjs-node';
    await import(specifier);
    return tf.findBackendFactory('tensorflow') != null && (await tf.setBackend('tensorflow'));
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    if (!wasmPathsSet) {
      const require = createRequire(import.meta.url);
      const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
      setWasmPaths(`${path.join(path.dirname(pkg), 'dist')}${path.sep}`);
      wasmPathsSet = true;
    }
    registerWasmConv2DBackpropFilter();
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}
