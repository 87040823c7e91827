/**
 * Tells a refused TLS handshake from a network outage. grpc-js reports both as `UNAVAILABLE`,
 * and when the server refuses the site's certificate (wrong CA, expired) its message is only
 * "Failed to connect". A site must keep retrying through an outage but not forever against a
 * server that will never accept its certificate, so after a failed registration the client
 * repeats the handshake itself, with the same credentials, and looks at how it ended:
 *
 * - a certificate error on this side (the server's certificate is not from this site's root
 *   CA, or has expired, or names another host): refused;
 * - the server answered the handshake (its certificate arrived and the keys were derived) and
 *   then dropped the connection before completing it: refused. A Node TLS server that rejects a
 *   client certificate destroys the socket without an alert, so this is all a client ever sees
 *   of it; the server logs the precise reason. A connection dropped before the server said
 *   anything (a proxy with no server behind it, a server going down) is not a refusal.
 * - no connection (refused, unreachable, timed out): unreachable, retry.
 *
 * The probe uses TLS 1.2: there the server checks the client certificate inside the handshake,
 * before sending its Finished message (RFC 5246 §7.4.8-7.4.9), so a refusal always comes before
 * the handshake completes. In TLS 1.3 the client's handshake completes first and the refusal
 * comes later (RFC 8446 §4.4.2), after a wait of unknown length.
 */
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { StartupKit } from '../provision/kit.js';

export type HandshakeOutcome =
  /** The server accepted the certificate and this site accepted the server's. */
  | { readonly kind: 'accepted' }
  /** A certificate was refused by either side: retrying will not help. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** No answer, connection refused or reset, or anything else that may pass. */
  | { readonly kind: 'unreachable'; readonly reason: string };

/** Error codes of a TLS failure that a retry cannot fix (OpenSSL alerts, X.509 checks). */
function isCertificateRefusal(code: string): boolean {
  // A server that does not speak TLS 1.2 says nothing about our certificate.
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER/.test(code)) return false;
  return (
    /^ERR_SSL_.*ALERT/.test(code) ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT|DECODE)|HOSTNAME_MISMATCH/.test(code)
  );
}

/** One TLS handshake with the kit's credentials against `host:port`; never rejects. */
export function probeHandshake(
  kit: StartupKit,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ca: kit.rootCaPem,
      key: kit.keyPem,
      cert: kit.certPem,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    });
    let settled = false;
    /** The server sent its side of the handshake (in TLS 1.2, keys exist only after that). */
    let serverSpoke = false;
    const done = (outcome: HandshakeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const dropped = () =>
      done({
        kind: 'refused',
        reason:
          'the server closed the connection during the TLS handshake (it refuses this ' +
          "site's certificate: not issued by the federation's root CA, or expired)",
      });
    const timer = setTimeout(
      () => done({ kind: 'unreachable', reason: `no TLS answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    // The key material itself is ignored: only the moment it exists matters.
    socket.once('keylog', () => {
      serverSpoke = true;
    });
    socket.once('secureConnect', () => done({ kind: 'accepted' }));
    socket.once('error', (err: Error & { code?: string }) => {
      const code = err.code ?? '';
      if (isCertificateRefusal(code)) done({ kind: 'refused', reason: `${code}: ${err.message}` });
      else if (serverSpoke && code === 'ECONNRESET') dropped();
      else done({ kind: 'unreachable', reason: code === '' ? err.message : code });
    });
    socket.once('close', () =>
      serverSpoke ? dropped() : done({ kind: 'unreachable', reason: 'connection closed' }),
    );
  });
}
