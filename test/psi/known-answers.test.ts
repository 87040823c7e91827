import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../src/psi/bytes.js';
import { nobleHashToCurve, nobleMultiply, nobleParse } from '../../src/psi/curve.js';
import { compatHash } from '../../src/psi/kernels.js';
import { PsiPool } from '../../src/psi/pool.js';
import { PsiClient, PsiServer } from '../../src/psi/protocol.js';

// Golden vectors from psi.js 2.0.6 with OpenMined's test keys (reference psi.md).
const CLIENT_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const SERVER_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const HASHES: Record<string, string> = {
  'Element 0': '0215e10790d464efb81bed744bbd5d75d0d8936445791aae873ec0964daec761df',
  '': '026b51b9d722460e1f8073e65a824ebe2282f2d7d945491f150c1c04e6e553bb23',
  café: '024e5ff544bf352fff2c48fb3b7009152b1b92996e3415ec4225ef5674fa7d2530',
};
const E_C = '028efbd69d77a25d6a31e770682e13fd6605a658e0b2b66872c7d5030e4f9e64ed';
const H_CS = '030693978266f44295fa74474af50cdbce5ccda956557e97ce6c786335bdd3f234';
const H_S = '034b17d7bdd613fa9df56c58d0c77ca255d4f140efb95e07247c97aa9cd6fea0dd';

const clientItems = Array.from({ length: 10 }, (_, i) => `Element ${i}`);
const serverItems = Array.from({ length: 100 }, (_, i) => `Element ${2 * i}`);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('OpenMined known answers', () => {
  it('hashes to the curve as PJC does, natively and in noble', () => {
    for (const [m, h] of Object.entries(HASHES)) {
      expect(toHex(nobleHashToCurve(utf8(m)).toBytes(true))).toBe(h);
      const u = compatHash(utf8(m));
      expect(`02${u.subarray(1, 33).toString('hex')}`).toBe(h);
    }
  });

  it('reproduces the fixed-key encryptions of "Element 0"', async () => {
    const pool = new PsiPool(0);
    const client = PsiClient.create({ mode: 'openmined', key: CLIENT_KEY, pool });
    const server = PsiServer.create({ mode: 'openmined', key: SERVER_KEY, pool });
    const req = await client.createRequest(['Element 0']);
    expect(toHex(req.elements[0]!)).toBe(E_C);
    const res = await server.processRequest(req);
    expect(toHex(res.elements[0]!)).toBe(H_CS);
    const k = BigInt(`0x${toHex(SERVER_KEY)}`);
    expect(toHex(nobleMultiply(k, nobleHashToCurve(utf8('Element 0'))))).toBe(H_S);
    expect(toHex(nobleMultiply(BigInt(`0x${toHex(CLIENT_KEY)}`), nobleParse(fromHex(H_S))))).toBe(
      H_CS,
    );
  });

  it('builds the golden Bloom filter and GCS bit strings and finds [0, 2, 4, 6, 8]', async () => {
    const pool = new PsiPool(0);
    for (const container of ['bloom', 'gcs'] as const) {
      const server = PsiServer.create({ mode: 'openmined', key: SERVER_KEY, pool });
      const setup = await server.createSetup(serverItems, {
        fpr: 0.01,
        numClientInputs: 10,
        container,
      });
      if (setup.container === 'bloom') {
        expect(setup.numHashFunctions).toBe(10);
        expect(setup.bits.length).toBe(180);
        expect(sha(setup.bits)).toBe(
          'bd9e2171983b2d235a20c0708e7778ecd8d7d05b889991d9f0b64d74c279ee80',
        );
      } else if (setup.container === 'gcs') {
        expect(setup.div).toBe(9);
        expect(setup.hashRange).toBe(100000n);
        expect(setup.bits.length).toBe(144);
        expect(sha(setup.bits)).toBe(
          'fe5b6fd6ba8193fd799ba682db11063690f73e5879321cc016ef53a9330535f8',
        );
      }
      const client = PsiClient.create({ mode: 'openmined', key: CLIENT_KEY, pool });
      const req = await client.createRequest(clientItems);
      const res = await server.processRequest(req);
      expect(await client.intersection(setup, res)).toEqual([0, 2, 4, 6, 8]);
    }
  });
});
