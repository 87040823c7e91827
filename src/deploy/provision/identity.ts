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
