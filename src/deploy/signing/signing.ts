/**
 * Job signing. The admin client signs every file and every sub-folder of a job folder with its
 * private key before upload; the server and every site verify at deploy time.
 *
 * Each folder gets two files: `.vflare-sig.json` (one signature per entry of that folder) and
 * `.vflare-signer.pem` (the signer's certificate). What is signed for an entry is
 *
 * ```
 * "vflare-job-signature/1" \n nonce \n kind \n path-from-job-root \n digest
 * ```
 * where `digest` is the SHA-256 of a file's bytes, or for a folder the SHA-256 of its sorted
 * listing (`kind name` lines). The job-wide random `nonce` stops folders from being swapped in from
 * another signed job; the path stops files from being moved within the job; the listing stops
 * entries from being added or removed.
 *
 * Algorithm: ECDSA P-256 with SHA-256 (DER signatures, FIPS 186-4), matching the keys vflare
 * provisions: the same 128-bit security level as NVFlare's RSA-PSS/SHA-256 with 3072-bit keys,
 * with faster keys and smaller signatures, and one algorithm means one verified path. Where
 * NVFlare 2.3.0 was lax, verification here is strict: the signer's certificate must chain to the
 * federation's root CA (2.3.0 skipped this; fixed in 2.3.1, NVIDIA/NVFlare#1820), must belong to
 * an admin, and every folder must carry a signature file covering every entry (2.3 silently
 * accepted unsigned folders and files until NVIDIA/NVFlare#4008).
 */
import {
  createHash,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { VflareError } from '../../runtime/core/index.js';
import { type CertIdentity, chainProblem, identityOf } from '../provision/identity.js';
import { isAdminRole } from '../provision/pki.js';

export const SIGNATURE_FILE = '.vflare-sig.json';
export const SIGNER_FILE = '.vflare-signer.pem';
const DOMAIN = 'vflare-job-signature/1';

type Algorithm = 'ecdsa-p256-sha256';

const signatureFileSchema = z
  .object({
    version: z.literal(1),
    algorithm: z.literal('ecdsa-p256-sha256'),
    nonce: z.string().regex(/^[0-9a-f]{32}$/),
    entries: z.record(z.string(), z.string()),
  })
  .strict();

interface Entry {
  readonly name: string;
  readonly kind: 'file' | 'dir';
}

function isSigningArtefact(name: string): boolean {
  return name === SIGNATURE_FILE || name === SIGNER_FILE;
}

/** Lists a folder's entries (sorted, signing artefacts left out); links are refused. */
async function listFolder(abs: string, rel: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of (await readdir(abs)).sort()) {
    if (isSigningArtefact(name)) continue;
    const st = await lstat(join(abs, name));
    if (st.isDirectory()) out.push({ name, kind: 'dir' });
    else if (st.isFile()) out.push({ name, kind: 'file' });
    else {
      throw new VflareError(
        'INVALID_JOB',
        `${pathOf(rel, name)} is not a plain file or folder (links are not allowed in a job)`,
      );
    }
  }
  return out;
}

function pathOf(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function digestOf(absFolder: string, rel: string, entry: Entry): Promise<string> {
  const abs = join(absFolder, entry.name);
  if (entry.kind === 'file') return sha256File(abs);
  const listing = (await listFolder(abs, pathOf(rel, entry.name)))
    .map((e) => `${e.kind} ${e.name}`)
    .join('\n');
  return createHash('sha256').update(listing).digest('hex');
}

function statement(nonce: string, rel: string, entry: Entry, digest: string): Buffer {
  return Buffer.from(`${DOMAIN}\n${nonce}\n${entry.kind}\n${pathOf(rel, entry.name)}\n${digest}`);
}

function algorithmOf(key: KeyObject): Algorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ecdsa-p256-sha256';
  }
  throw new VflareError(
    'UNSUPPORTED',
    'job signing needs the EC P-256 key vflare provision issues; this key is of another type',
  );
}

/**
 * Signs the job folder at `jobDir` in place with the signer's key; overwrites earlier
 * signatures. Sign a copy of the job, not the author's working folder.
 */
export async function signJobFolder(jobDir: string, keyPem: string, certPem: string) {
  const key = createPrivateKey(keyPem);
  const algorithm = algorithmOf(key);
  const nonce = randomBytes(16).toString('hex');
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries: Record<string, string> = {};
    for (const entry of await listFolder(abs, rel)) {
      const data = statement(nonce, rel, entry, await digestOf(abs, rel, entry));
      entries[entry.name] = sign('sha256', data, key).toString('base64');
      if (entry.kind === 'dir') await walk(join(abs, entry.name), pathOf(rel, entry.name));
    }
    const file = { version: 1, algorithm, nonce, entries };
    await writeFile(join(abs, SIGNATURE_FILE), `${JSON.stringify(file, null, 1)}\n`);
    await writeFile(join(abs, SIGNER_FILE), certPem);
  };
  await walk(jobDir, '');
}

export type VerifyResult =
  | { readonly ok: true; readonly signer: CertIdentity }
  | { readonly ok: false; readonly reason: string };

/**
 * Verifies a signed job folder against the federation's root CA. Never throws for a bad job:
 * the reason goes to the job's deploy details.
 */
export async function verifyJobFolder(
  jobDir: string,
  rootCaPem: string,
  now: Date = new Date(),
): Promise<VerifyResult> {
  try {
    const signer = await verifyOrThrow(jobDir, new X509Certificate(rootCaPem), now);
    return { ok: true, signer };
  } catch (err) {
    const reason = err instanceof VflareError ? err.message : 'the job folder could not be read';
    return { ok: false, reason: `job signature verification failed: ${reason}` };
  }
}

function refuse(reason: string): never {
  throw new VflareError('CRYPTO_ERROR', reason);
}

async function readSignatureFile(abs: string, rel: string) {
  const where = rel === '' ? 'the job folder' : `folder ${rel}`;
  let text: string;
  try {
    text = await readFile(join(abs, SIGNATURE_FILE), 'utf8');
  } catch {
    refuse(`${where} has no signature file (${SIGNATURE_FILE}); the job was not signed`);
  }
  let parsed: z.infer<typeof signatureFileSchema>;
  try {
    parsed = signatureFileSchema.parse(JSON.parse(text));
  } catch {
    refuse(`the signature file of ${where} is malformed`);
  }
  let signerPem: string;
  try {
    signerPem = await readFile(join(abs, SIGNER_FILE), 'utf8');
  } catch {
    refuse(`${where} has no signer certificate (${SIGNER_FILE})`);
  }
  return { sig: parsed, signerPem };
}

async function verifyOrThrow(jobDir: string, root: X509Certificate, now: Date) {
  const top = await readSignatureFile(jobDir, '');
  let signerCert: X509Certificate;
  try {
    signerCert = new X509Certificate(top.signerPem);
  } catch {
    refuse('the signer certificate is not a valid X.509 certificate');
  }
  const problem = chainProblem(signerCert, root, now);
  if (problem !== null) refuse(`signer certificate rejected: ${problem}`);
  let signer: CertIdentity;
  try {
    signer = identityOf(signerCert);
  } catch {
    refuse('the signer certificate carries no vflare identity');
  }
  if (!isAdminRole(signer.role)) {
    refuse(`the signer "${signer.name}" is a ${signer.role}, not an admin; only admins sign jobs`);
  }
  const publicKey = signerCert.publicKey;
  const { nonce, algorithm } = top.sig;

  const walk = async (abs: string, rel: string, sig: typeof top.sig, pem: string) => {
    if (pem.trim() !== top.signerPem.trim()) refuse(`folder ${rel} has a different signer`);
    if (sig.nonce !== nonce || sig.algorithm !== algorithm) {
      refuse(`folder ${rel} was signed as part of a different job`);
    }
    const entries = await listFolder(abs, rel);
    const names = new Set(entries.map((e) => e.name));
    for (const name of Object.keys(sig.entries)) {
      if (!names.has(name)) refuse(`signed entry ${pathOf(rel, name)} is missing`);
    }
    for (const entry of entries) {
      const path = pathOf(rel, entry.name);
      const signature = sig.entries[entry.name];
      if (signature === undefined) refuse(`${path} has no signature (added after signing?)`);
      const data = statement(nonce, rel, entry, await digestOf(abs, rel, entry));
      const good = verify('sha256', data, publicKey, Buffer.from(signature, 'base64'));
      if (!good) refuse(`the signature of ${path} does not match (changed after signing)`);
      if (entry.kind === 'dir') {
        const sub = join(abs, entry.name);
        const inner = await readSignatureFile(sub, path);
        await walk(sub, path, inner.sig, inner.signerPem);
      }
    }
  };
  await walk(jobDir, '', top.sig, top.signerPem);
  return signer;
}
