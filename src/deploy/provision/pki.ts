/**
 * The federation's public-key infrastructure: one self-signed root CA per project, and one
 * key pair plus certificate per party (the server, each site, each admin), issued by that root.
 *
 * Certificates are built with `@peculiar/x509` over WebCrypto, never hand-assembled DER.
 * Keys are ECDSA P-256 with SHA-256 signatures (FIPS 186-4 / RFC 5480): 128-bit security like
 * RSA-3072, key generation in milliseconds instead of seconds, small certificates, and every
 * TLS 1.2/1.3 stack (OpenSSL in Node and gRPC) accepts them.
 *
 * Identity lives in the subject: CN = party name (a site's CN must equal the site name it claims
 * when it registers), O = organisation, OU = role (`server`, `client`, or an admin role).
 */
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata
// polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { VflareError } from '../../runtime/core/index.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** Admin roles, strongest first (NVFlare 2.3's default authorisation roles). */
export const ADMIN_ROLES = ['project-admin', 'org-admin', 'lead', 'member'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];
export type PartyRole = 'server' | 'client' | AdminRole;

export function isAdminRole(role: string): role is AdminRole {
  return (ADMIN_ROLES as readonly string[]).includes(role);
}

/** A certificate and its private key, both PEM. */
export interface IssuedIdentity {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface RootCa extends IssuedIdentity {
  readonly signingKey: CryptoKey;
  readonly subject: string;
}

export interface PartySpec {
  /** Common name: the site name, the server host, or the admin's name (e.g. an e-mail). */
  readonly name: string;
  readonly org: string;
  readonly role: PartyRole;
  /** DNS names / IPs the server certificate must also cover (server only). */
  readonly altNames?: readonly string[];
}

export interface ValidityOptions {
  /** Start of validity; default now minus one hour, so a site whose clock lags still works. */
  readonly notBefore?: Date;
  /** Validity in days from `notBefore`; default 360 (root: 3650). */
  readonly days?: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function validity(options: ValidityOptions, defaultDays: number): { from: Date; to: Date } {
  const from = options.notBefore ?? new Date(Date.now() - HOUR_MS);
  const to = new Date(from.getTime() + (options.days ?? defaultDays) * DAY_MS);
  return { from, to };
}

/** X.500 attribute values may not carry separators that would change the parsed name. */
function checkNamePart(label: string, value: string): void {
  if (!/^[A-Za-z0-9._@+-]{1,64}$/.test(value)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `${label} "${value}" is not allowed: use 1-64 letters, digits or . _ @ + -`,
    );
  }
}

function randomSerial(): string {
  // Positive 64-bit serial: clear the top bit so DER does not read it as negative.
  const bytes = webcrypto.getRandomValues(new Uint8Array(8));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as unknown as CryptoKeyPair;
}

/** Creates the project's self-signed root CA. */
export async function createRootCa(project: string, options: ValidityOptions = {}) {
  checkNamePart('project name', project);
  const keys = await generateKeys();
  const { from, to } = validity(options, 3650);
  const subject = `CN=${project} root CA, O=${project}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subject,
    notBefore: from,
    notAfter: to,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const root: RootCa = {
    certPem: cert.toString('pem'),
    keyPem: await exportKeyPem(keys.privateKey),
    signingKey: keys.privateKey,
    subject: cert.subject,
  };
  return root;
}

/** Issues a key pair and certificate for one party, signed by `root`. */
export async function issueIdentity(
  root: RootCa,
  party: PartySpec,
  options: ValidityOptions = {},
): Promise<IssuedIdentity> {
  checkNamePart('party name', party.name);
  checkNamePart('organisation', party.org);
  const keys = await generateKeys();
  const { from, to } = validity(options, 360);
  const rootCert = new x509.X509Certificate(root.certPem);
  const usages: string[] = [];
  if (party.role === 'server') usages.push(x509.ExtendedKeyUsage.serverAuth);
  // Sites and admins authenticate as TLS clients; the server also dials nobody but keeps
  // clientAuth off so its certificate cannot impersonate a site.
  else usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(rootCert),
  ];
  if (party.role === 'server') {
    const names = [party.name, ...(party.altNames ?? [])];
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        names.map((n) =>
          /^\d+\.\d+\.\d+\.\d+$/.test(n) || n.includes(':')
            ? { type: 'ip' as const, value: n }
            : { type: 'dns' as const, value: n },
        ),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${party.name}, O=${party.org}, OU=${party.role}`,
    issuer: rootCert.subject,
    notBefore: from,
    notAfter: to,
    publicKey: keys.publicKey,
    signingKey: root.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Re-imports a root CA from its PEM files (to issue more identities later). */
export async function loadRootCa(certPem: string, keyPem: string): Promise<RootCa> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const signingKey = (await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, [
    'sign',
  ])) as unknown as CryptoKey;
  return { certPem, keyPem, signingKey, subject: cert.subject };
}
