/**
 * Reading identities back out of certificates, and the chain check every party runs against the
 * federation's root CA (Node's OpenSSL-backed `X509Certificate`).
 */
import { X509Certificate } from 'node:crypto';
import { VflareError } from '../../runtime/core/index.js';
import { isAdminRole, type PartyRole } from './pki.js';

export interface CertIdentity {
  readonly name: string;
  readonly org: string;
  readonly role: PartyRole;
}

function field(subject: string, key: string): string | undefined {
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq) === key) return line.slice(eq + 1);
  }
  return undefined;
}

/** Name, organisation and role from a certificate's subject (CN, O, OU). */
export function identityOf(cert: X509Certificate | string): CertIdentity {
  const c = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const name = field(c.subject, 'CN');
  const org = field(c.subject, 'O');
  const role = field(c.subject, 'OU');
  if (!name || !org || !role || !(role === 'server' || role === 'client' || isAdminRole(role))) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      'certificate subject lacks CN, O or a known OU role; it was not issued by vflare provision',
    );
  }
  return { name, org, role };
}

/**
 * Why `cert` is not a valid certificate of the federation whose root is `root`, or null when
 * it is: issued by the root (names and signature), and valid at `now`.
 */
export function chainProblem(
  cert: X509Certificate,
  root: X509Certificate,
  now: Date = new Date(),
): string | null {
  if (cert.fingerprint256 === root.fingerprint256) {
    return 'the certificate is the root CA itself, not a party certificate';
  }
  if (!cert.checkIssued(root) || !cert.verify(root.publicKey)) {
    return cert.checkIssued(cert)
      ? 'the certificate is self-signed, not issued by the federation root CA'
      : 'the certificate was not issued by the federation root CA';
  }
  if (new Date(cert.validFrom).getTime() > now.getTime()) return 'the certificate is not yet valid';
  if (new Date(cert.validTo).getTime() < now.getTime()) return 'the certificate has expired';
  return null;
}

/**
 * Why a site or server kit cannot work, or null: its certificate must name the party the kit
 * configures (CN = name, OU = its role) and chain to the kit's root CA, now. A party checks this
 * at start so that a mixed-up or edited kit fails at once with the reason, instead of being
 * refused by the server (or by every site) on every reconnect attempt.
 */
export function kitProblem(
  kit: { readonly config: { kind: string; name: string }; certPem: string; rootCaPem: string },
  now: Date = new Date(),
): string | null {
  let cert: X509Certificate;
  let root: X509Certificate;
  try {
    cert = new X509Certificate(kit.certPem);
    root = new X509Certificate(kit.rootCaPem);
  } catch {
    return 'startup/cert.pem or startup/rootCA.pem is not a PEM certificate';
  }
  const chain = chainProblem(cert, root, now);
  if (chain !== null) return `startup/cert.pem: ${chain}`;
  let id: CertIdentity;
  try {
    id = identityOf(cert);
  } catch (err) {
    return `startup/cert.pem: ${(err as Error).message}`;
  }
  const role = kit.config.kind === 'site' ? 'client' : kit.config.kind;
  if (id.role !== role && !(kit.config.kind === 'admin' && isAdminRole(id.role))) {
    return `startup/cert.pem is a ${id.role} certificate, but the kit is a ${kit.config.kind} kit`;
  }
  if (id.name !== kit.config.name) {
    return (
      `startup/kit.json names the party "${kit.config.name}" but its certificate is ` +
      `for "${id.name}"; use the kit vflare provision wrote for "${kit.config.name}"`
    );
  }
  return null;
}
