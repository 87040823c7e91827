/**
 * Which app each party runs: the server app, and the app of each client site. With `@ALL`, the
 * sites come from the caller (the simulator's `--sites`), or `site-1 … site-N` with
 * N = max(2, minClients).
 */
import { VflareError } from '../core/errors.js';
import { ALL_SITES, type Job, SERVER_SITE } from './schema.js';

export interface Deployment {
  readonly serverApp: string;
  /** Client site → app name, in deploy-map order. */
  readonly clients: ReadonlyMap<string, string>;
}

export function planDeployment(job: Job, sites?: readonly string[]): Deployment {
  const { deployMap, minClients, mandatoryClients } = job.meta;
  const entries = Object.entries(deployMap);
  const allApp = entries.find(([, s]) => s.includes(ALL_SITES))?.[0];
  const clients = new Map<string, string>();
  let serverApp: string | undefined;
  if (allApp !== undefined) {
    serverApp = allApp;
    const chosen =
      sites ?? Array.from({ length: Math.max(2, minClients) }, (_, i) => `site-${i + 1}`);
    for (const s of chosen) clients.set(s, allApp);
  } else {
    for (const [app, list] of entries) {
      for (const s of list) {
        if (s === SERVER_SITE) serverApp = app;
        else clients.set(s, app);
      }
    }
    if (sites !== undefined) {
      const unknown = sites.filter((s) => !clients.has(s));
      if (unknown.length > 0) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `sites ${unknown.join(', ')} are not deployed by job "${job.meta.name}" ` +
            `(deployed: ${[...clients.keys()].join(', ')})`,
        );
      }
      for (const s of [...clients.keys()]) if (!sites.includes(s)) clients.delete(s);
    }
  }
  if (serverApp === undefined) {
    throw new VflareError('INVALID_JOB', `job "${job.meta.name}" deploys no app to the server`);
  }
  if (sites?.includes(SERVER_SITE)) {
    throw new VflareError('INVALID_ARGUMENT', '"server" is not a client site name');
  }
  if (clients.size < minClients) {
    throw new VflareError(
      'MIN_CLIENTS_NOT_MET',
      `job "${job.meta.name}" needs minClients = ${minClients}, ` +
        `only ${clients.size} site(s) selected`,
    );
  }
  const missing = mandatoryClients.filter((m) => !clients.has(m));
  if (missing.length > 0) {
    throw new VflareError(
      'MIN_CLIENTS_NOT_MET',
      `job "${job.meta.name}": mandatory client(s) ${missing.join(', ')} not selected`,
    );
  }
  return { serverApp, clients };
}
