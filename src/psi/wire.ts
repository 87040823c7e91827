/**
 * OpenMined PSI's protobuf wire format, version 2 (OM `private_set_intersection/proto/psi.proto`
 * as of 2.0; not wire-compatible with v1.x, whose envelope differs but whose points and bits
 * are the same):
 *
 *   ServerSetup { oneof { RawInfo raw = 1; GCSInfo gcs = 2; BloomFilterInfo bloom_filter = 3 } }
 *   RawInfo { repeated bytes encrypted_elements = 1 }
 *   GCSInfo { int32 div = 1; int64 hash_range = 2; bytes bits = 3 }
 *   BloomFilterInfo { int32 num_hash_functions = 1; bytes bits = 2 }
 *   Request { bool reveal_intersection = 1; repeated bytes encrypted_elements = 2 }
 *   Response { repeated bytes encrypted_elements = 1 }
 *
 * The schema is built in code with protobufjs (no generated files). Fast mode adds one field,
 * `string vflare_mode = 15`, set to "fast"; OpenMined parsers skip unknown fields, and its
 * absence marks the OpenMined-compatible mode, so compatible messages stay byte-identical.
 */
import protobuf from 'protobufjs';
import { VflareError } from '../runtime/core/index.js';
import type { ContainerKind } from './sizing.js';

export type PsiMode = 'openmined' | 'fast';
export const PSI_MODES: readonly PsiMode[] = ['openmined', 'fast'];

/** Bytes of one encrypted element in each mode. */
export const ELEMENT_WIDTH: Readonly<Record<PsiMode, number>> = { openmined: 33, fast: 32 };

export type ServerSetup =
  | {
      readonly mode: PsiMode;
      readonly container: 'bloom';
      readonly numHashFunctions: number;
      readonly bits: Uint8Array;
    }
  | {
      readonly mode: PsiMode;
      readonly container: 'gcs';
      readonly div: number;
      readonly hashRange: bigint;
      readonly bits: Uint8Array;
    }
  | { readonly mode: PsiMode; readonly container: 'raw'; readonly elements: Uint8Array[] };

export interface PsiRequest {
  readonly mode: PsiMode;
  readonly revealIntersection: boolean;
  readonly elements: Uint8Array[];
}

export interface PsiResponse {
  readonly mode: PsiMode;
  readonly elements: Uint8Array[];
}

const root = protobuf.Root.fromJSON({
  nested: {
    psi_proto: {
      nested: {
        ServerSetup: {
          oneofs: { data_structure: { oneof: ['raw', 'gcs', 'bloom_filter'] } },
          fields: {
            raw: { type: 'RawInfo', id: 1 },
            gcs: { type: 'GCSInfo', id: 2 },
            bloom_filter: { type: 'BloomFilterInfo', id: 3 },
            vflare_mode: { type: 'string', id: 15 },
          },
          nested: {
            RawInfo: { fields: { encrypted_elements: { rule: 'repeated', type: 'bytes', id: 1 } } },
            GCSInfo: {
              fields: {
                div: { type: 'int32', id: 1 },
                hash_range: { type: 'int64', id: 2 },
                bits: { type: 'bytes', id: 3 },
              },
            },
            BloomFilterInfo: {
              fields: {
                num_hash_functions: { type: 'int32', id: 1 },
                bits: { type: 'bytes', id: 2 },
              },
            },
          },
        },
        Request: {
          fields: {
            reveal_intersection: { type: 'bool', id: 1 },
            encrypted_elements: { rule: 'repeated', type: 'bytes', id: 2 },
            vflare_mode: { type: 'string', id: 15 },
          },
        },
        Response: {
          fields: {
            encrypted_elements: { rule: 'repeated', type: 'bytes', id: 1 },
            vflare_mode: { type: 'string', id: 15 },
          },
        },
      },
    },
  },
});

const SetupType = root.lookupType('psi_proto.ServerSetup');
const RequestType = root.lookupType('psi_proto.Request');
const ResponseType = root.lookupType('psi_proto.Response');

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, defaults: true, oneofs: true };

function marker(mode: PsiMode): { vflare_mode?: string } {
  return mode === 'fast' ? { vflare_mode: 'fast' } : {};
}

function decodeWith(type: protobuf.Type, bytes: Uint8Array, what: string) {
  try {
    return type.toObject(type.decode(bytes), TO_OBJECT) as Record<string, unknown>;
  } catch (err) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `PSI: the ${what} message is not a valid OpenMined PSI v2 protobuf`,
      { cause: err },
    );
  }
}

function modeOf(obj: Record<string, unknown>, what: string): PsiMode {
  const m = obj['vflare_mode'];
  if (m === '' || m === undefined) return 'openmined';
  if (m === 'fast') return 'fast';
  throw new VflareError('PROTOCOL_ERROR', `PSI: the ${what} names an unknown mode`);
}

function checkWidths(elements: Uint8Array[], mode: PsiMode, what: string): Uint8Array[] {
  const w = ELEMENT_WIDTH[mode];
  for (let i = 0; i < elements.length; i++) {
    if (elements[i]!.length !== w) {
      const other = w === 33 ? 'fast' : 'openmined';
      throw new VflareError(
        'PROTOCOL_ERROR',
        `PSI: element ${i} of the ${what} has ${elements[i]!.length} bytes, expected ${w} ` +
          `for ${mode} mode` +
          (elements[i]!.length === ELEMENT_WIDTH[other] ? ` (the peer seems to run ${other})` : ''),
      );
    }
  }
  return elements;
}

/** A plain Uint8Array view (protobufjs returns Buffers in Node; the runtime codec wants plain). */
function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function asBytes(list: unknown): Uint8Array[] {
  return (list as Uint8Array[]).map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

export function encodeSetup(setup: ServerSetup): Uint8Array {
  let body: Record<string, unknown>;
  switch (setup.container) {
    case 'bloom':
      body = { bloom_filter: { num_hash_functions: setup.numHashFunctions, bits: setup.bits } };
      break;
    case 'gcs':
      body = { gcs: { div: setup.div, hash_range: setup.hashRange.toString(), bits: setup.bits } };
      break;
    case 'raw':
      body = { raw: { encrypted_elements: setup.elements } };
      break;
  }
  return plainBytes(
    SetupType.encode(SetupType.fromObject({ ...body, ...marker(setup.mode) })).finish(),
  );
}

export function decodeSetup(bytes: Uint8Array): ServerSetup {
  const obj = decodeWith(SetupType, bytes, 'server setup');
  const mode = modeOf(obj, 'server setup');
  const which = obj['data_structure'] as string | undefined;
  if (which === 'bloom_filter') {
    const b = obj['bloom_filter'] as { num_hash_functions: number; bits: Uint8Array };
    return {
      mode,
      container: 'bloom',
      numHashFunctions: b.num_hash_functions,
      bits: asBytes([b.bits])[0]!,
    };
  }
  if (which === 'gcs') {
    const g = obj['gcs'] as { div: number; hash_range: string; bits: Uint8Array };
    return {
      mode,
      container: 'gcs',
      div: g.div,
      hashRange: BigInt(g.hash_range),
      bits: asBytes([g.bits])[0]!,
    };
  }
  if (which === 'raw') {
    const r = obj['raw'] as { encrypted_elements: Uint8Array[] };
    const elements = checkWidths(asBytes(r.encrypted_elements), mode, 'server setup');
    return { mode, container: 'raw', elements };
  }
  throw new VflareError('PROTOCOL_ERROR', 'PSI: the server setup names no container');
}

export function encodeRequest(req: PsiRequest): Uint8Array {
  return plainBytes(
    RequestType.encode(
      RequestType.fromObject({
        reveal_intersection: req.revealIntersection,
        encrypted_elements: req.elements,
        ...marker(req.mode),
      }),
    ).finish(),
  );
}

export function decodeRequest(bytes: Uint8Array): PsiRequest {
  const obj = decodeWith(RequestType, bytes, 'request');
  const mode = modeOf(obj, 'request');
  const elements = checkWidths(asBytes(obj['encrypted_elements']), mode, 'request');
  return { mode, revealIntersection: obj['reveal_intersection'] === true, elements };
}

export function encodeResponse(res: PsiResponse): Uint8Array {
  return plainBytes(
    ResponseType.encode(
      ResponseType.fromObject({ encrypted_elements: res.elements, ...marker(res.mode) }),
    ).finish(),
  );
}

export function decodeResponse(bytes: Uint8Array): PsiResponse {
  const obj = decodeWith(ResponseType, bytes, 'response');
  const mode = modeOf(obj, 'response');
  return { mode, elements: checkWidths(asBytes(obj['encrypted_elements']), mode, 'response') };
}

export type { ContainerKind };
