/**
 * The two-party ECDH PSI protocol of OpenMined PSI (OM `psi_server.cpp`, `psi_client.cpp`):
 *
 * 1. setup (server): encrypt every server item with s, put H(y)^s in a container;
 * 2. request (client): send H(x)^c for every client item, in input order, with the reveal flag;
 * 3. response (server): raise each element to s (sorted when reveal is off, so the client can
 *    only count);
 * 4. intersection (client): strip c (multiply by c⁻¹ mod n) and test membership.
 *
 * Only the client learns the result. Two modes: `openmined` (byte-compatible with OpenMined
 * PSI: 33-byte compressed points, PJC hash) and `fast` (x-only, 32-byte x-coordinates, see
 * `kernels.ts`); both parties must use the same one. Every session object draws a fresh key.
 */
import { VflareError } from '../runtime/core/index.js';
import { BloomFilter, type BloomProbing } from './bloom.js';
import { bytesKey, compareBytes, utf8 } from './bytes.js';
import {
  invertScalar,
  nobleHashToCurve,
  nobleMultiply,
  nobleParse,
  randomScalar,
  scalarFromBytes,
} from './curve.js';
import { buildGcs, decodeGcs, gcsHash } from './gcs.js';
import { scalarBytes, signRecoverable } from './kernels.js';
import { type PsiPool, sharedPool } from './pool.js';
import { bloomParams, type ContainerKind, gcsHashRange, sizing } from './sizing.js';
import {
  ELEMENT_WIDTH,
  type PsiMode,
  type PsiRequest,
  type PsiResponse,
  type ServerSetup,
} from './wire.js';

export interface SessionOptions {
  /** Default `fast`. Both parties must use the same mode. */
  readonly mode?: PsiMode;
  /** Reveal mode (indices) or cardinality mode (count only); default true. */
  readonly revealIntersection?: boolean;
  /** 32-byte big-endian key in [1, n); default a fresh uniform key. Tests only. */
  readonly key?: Uint8Array;
  /** Worker pool for the scalar work; default the shared all-core pool. */
  readonly pool?: PsiPool;
}

export interface SetupOptions {
  /** False-positive rate of the whole client query, in (0, 1). */
  readonly fpr: number;
  /** The client's item count (public in the protocol). */
  readonly numClientInputs: number;
  /** Default `bloom`. */
  readonly container?: ContainerKind;
}

/** One party's scalar and the batch operations on it. */
class Cipher {
  readonly mode: PsiMode;
  readonly k: bigint;
  readonly #pool: PsiPool;
  #inverse: bigint | null = null;

  constructor(mode: PsiMode, key: Uint8Array | undefined, pool: PsiPool | undefined) {
    if (mode !== 'openmined' && mode !== 'fast') {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `PSI mode: expected openmined or fast, got ${String(mode)}`,
      );
    }
    this.mode = mode;
    this.k = key === undefined ? randomScalar() : scalarFromBytes(key);
    this.#pool = pool ?? sharedPool();
  }

  get inverse(): bigint {
    this.#inverse ??= invertScalar(this.k);
    return this.#inverse;
  }

  /** E_k(H(item)) for every item. */
  encryptItems(items: readonly string[]): Promise<Uint8Array[]> {
    const bytes = items.map(utf8);
    if (this.mode === 'fast') return this.#pool.run('fast-hash-encrypt', this.k, bytes, 0);
    if (!signRecoverable(this.k)) {
      return Promise.resolve(bytes.map((b) => nobleMultiply(this.k, nobleHashToCurve(b))));
    }
    return this.#pool.run('compat-hash-encrypt', this.k, bytes, 0);
  }

  /** Multiplies peer elements by k (or k⁻¹), validating every one. */
  multiply(elements: readonly Uint8Array[], inverse: boolean): Promise<Uint8Array[]> {
    const k = inverse ? this.inverse : this.k;
    if (this.mode === 'fast') return this.#pool.run('fast-multiply', k, elements, 32);
    if (!signRecoverable(k)) {
      return Promise.resolve(
        elements.map((e, i) => {
          let pt: ReturnType<typeof nobleParse>;
          try {
            pt = nobleParse(e);
          } catch {
            throw new VflareError('CRYPTO_ERROR', `PSI: element ${i} is not a valid P-256 point`);
          }
          return nobleMultiply(k, pt);
        }),
      );
    }
    return this.#pool.run('compat-multiply', k, elements, 33);
  }

  keyBytes(): Uint8Array {
    return new Uint8Array(scalarBytes(this.k));
  }
}

function checkMode(mine: PsiMode, theirs: PsiMode, role: string, what: string): void {
  if (mine !== theirs) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `PSI mode mismatch: this ${role} runs ${mine} mode but the peer's ${what} is in ` +
        `${theirs} mode; both parties must choose the same mode`,
    );
  }
}

function checkItems(items: readonly string[], label: string): void {
  if (!Array.isArray(items))
    throw new VflareError('INVALID_ARGUMENT', `${label}: expected an array of strings`);
  for (let i = 0; i < items.length; i++) {
    if (typeof items[i] !== 'string') {
      throw new VflareError('INVALID_ARGUMENT', `${label}: item ${i} is not a string`);
    }
  }
}

export class PsiServer {
  readonly mode: PsiMode;
  readonly revealIntersection: boolean;
  readonly #cipher: Cipher;

  private constructor(options: SessionOptions) {
    this.mode = options.mode ?? 'fast';
    this.revealIntersection = options.revealIntersection ?? true;
    this.#cipher = new Cipher(this.mode, options.key, options.pool);
  }

  /** A server session with a fresh key (or `options.key`). */
  static create(options: SessionOptions = {}): PsiServer {
    return new PsiServer(options);
  }

  /** The key as 32 big-endian bytes (for known-answer tests; keep it secret). */
  keyBytes(): Uint8Array {
    return this.#cipher.keyBytes();
  }

  /**
   * Encrypts the server's items and packs them in the chosen container. All sizing checks
   * (fpr, client count, GCS range) run before any encryption.
   */
  async createSetup(items: readonly string[], options: SetupOptions): Promise<ServerSetup> {
    checkItems(items, 'PSI server items');
    const container = options.container ?? 'bloom';
    const s = sizing(options.fpr, options.numClientInputs, items.length);
    const mode = this.mode;
    switch (container) {
      case 'bloom': {
        const { numHashFunctions, numBytes } = bloomParams(s);
        const encrypted = await this.#cipher.encryptItems(items);
        const filter = BloomFilter.create(numHashFunctions, numBytes, bloomProbing(mode));
        for (const e of encrypted) filter.add(e);
        return { mode, container, numHashFunctions, bits: filter.bits };
      }
      case 'gcs': {
        const hashRange = gcsHashRange(s);
        const encrypted = await this.#cipher.encryptItems(items);
        const g = buildGcs(encrypted, hashRange);
        return { mode, container, div: g.div, hashRange: g.hashRange, bits: g.bits };
      }
      case 'raw': {
        const encrypted = await this.#cipher.encryptItems(items);
        encrypted.sort(compareBytes);
        return { mode, container, elements: encrypted };
      }
      default:
        throw new VflareError(
          'INVALID_ARGUMENT',
          `PSI container: expected bloom, gcs or raw, got ${String(container)}`,
        );
    }
  }

  /** Re-encrypts the client's elements; sorted in cardinality mode so they cannot be linked. */
  async processRequest(request: PsiRequest): Promise<PsiResponse> {
    checkMode(this.mode, request.mode, 'server', 'request');
    if (request.revealIntersection !== this.revealIntersection) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `PSI: the client asks for ${request.revealIntersection ? 'reveal' : 'cardinality'} mode ` +
          `but this server runs ${this.revealIntersection ? 'reveal' : 'cardinality'} mode`,
      );
    }
    const out = await this.#cipher.multiply(request.elements, false);
    if (!this.revealIntersection) out.sort(compareBytes);
    return { mode: this.mode, elements: out };
  }
}

export class PsiClient {
  readonly mode: PsiMode;
  readonly revealIntersection: boolean;
  readonly #cipher: Cipher;
  #numInputs = -1;

  private constructor(options: SessionOptions) {
    this.mode = options.mode ?? 'fast';
    this.revealIntersection = options.revealIntersection ?? true;
    this.#cipher = new Cipher(this.mode, options.key, options.pool);
  }

  static create(options: SessionOptions = {}): PsiClient {
    return new PsiClient(options);
  }

  keyBytes(): Uint8Array {
    return this.#cipher.keyBytes();
  }

  /** Encrypts the client's items, in input order. An empty set is an error. */
  async createRequest(items: readonly string[]): Promise<PsiRequest> {
    checkItems(items, 'PSI client items');
    if (items.length === 0) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        'PSI client items: the set is empty; an empty set has an empty intersection, ' +
          'no protocol run is needed',
      );
    }
    const elements = await this.#cipher.encryptItems(items);
    this.#numInputs = items.length;
    return { mode: this.mode, revealIntersection: this.revealIntersection, elements };
  }

  /** Indices (ascending) of the client's items found in the server's set. Reveal mode only. */
  async intersection(setup: ServerSetup, response: PsiResponse): Promise<number[]> {
    if (!this.revealIntersection) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        'PSI: this client runs cardinality mode; it can only ask for the intersection size',
      );
    }
    return this.#matches(setup, response);
  }

  /** The intersection's size (both modes). */
  async intersectionSize(setup: ServerSetup, response: PsiResponse): Promise<number> {
    return (await this.#matches(setup, response)).length;
  }

  async #matches(setup: ServerSetup, response: PsiResponse): Promise<number[]> {
    if (this.#numInputs < 0) {
      throw new VflareError('INVALID_ARGUMENT', 'PSI: call createRequest before the intersection');
    }
    checkMode(this.mode, setup.mode, 'client', 'server setup');
    checkMode(this.mode, response.mode, 'client', 'response');
    if (response.elements.length !== this.#numInputs) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `PSI: the response has ${response.elements.length} elements but the request had ` +
          `${this.#numInputs}`,
      );
    }
    const plain = await this.#cipher.multiply(response.elements, true);
    const has = membership(setup);
    const out: number[] = [];
    // Indices are always < the request size (checked above), as OM PR #151 requires.
    for (let i = 0; i < plain.length; i++) if (has(plain[i]!)) out.push(i);
    return out;
  }
}

/** OpenMined's probe sequence is part of its wire format; fast mode uses the enhanced one. */
function bloomProbing(mode: PsiMode): BloomProbing {
  return mode === 'fast' ? 'enhanced' : 'double';
}

function membership(setup: ServerSetup): (e: Uint8Array) => boolean {
  switch (setup.container) {
    case 'bloom': {
      const f = new BloomFilter(setup.numHashFunctions, setup.bits, bloomProbing(setup.mode));
      return (e) => f.has(e);
    }
    case 'gcs': {
      const values = decodeGcs(setup);
      return (e) => values.has(gcsHash(e, setup.hashRange));
    }
    case 'raw': {
      const w = ELEMENT_WIDTH[setup.mode];
      const set = new Set<string>();
      for (const e of setup.elements) {
        if (e.length !== w) throw new VflareError('PROTOCOL_ERROR', 'PSI: bad raw element size');
        set.add(bytesKey(e));
      }
      return (e) => set.has(bytesKey(e));
    }
  }
}
