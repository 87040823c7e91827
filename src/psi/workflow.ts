/**
 * The server side of the N-site PSI workflow (NVIDIA FLARE 2.3's DhPSIController/DhPSIWorkFlow,
 * NVF `dh_psi_workflow.py`, redone with typed messages):
 *
 * 1. prepare: every site loads its items and reports its count (empty sets and duplicates are
 *    errors at the site); sites are sorted ascending by size;
 * 2. forward pass: rounds of parallel pairings (see `plan.ts`); the larger site of each pair
 *    keeps the pairwise intersection and moves on; the last site left, F, holds the result;
 * 3. backward pass: F serves every other site at once (one setup per distinct requester size);
 *    every site ends with |F| items, checked;
 * 4. finish: every site saves its result. An empty intermediate result ends the run early with
 *    an empty result everywhere (NVFlare falls back to a site's original items there instead).
 *
 * The FL server only relays opaque protobuf bytes; it learns every site's count and every
 * intermediate size, as in NVFlare.
 */
import {
  type ControllerApi,
  type Payload,
  VflareError,
  type Workflow,
} from '../runtime/core/index.js';
import {
  PSI_TASK,
  type PsiReplyPayload,
  type PsiReplyStep,
  type PsiSessionOptions,
  type PsiTaskStep,
  task,
} from './messages.js';
import { forwardRound, type SiteSize, sortBySize } from './plan.js';
import { sizing } from './sizing.js';

export interface PsiControllerOptions {
  /** Default `fast`. */
  readonly mode?: PsiSessionOptions['mode'];
  /** Default `bloom`. */
  readonly container?: PsiSessionOptions['container'];
  /** False-positive rate of each pairwise query; default 1e-11 (NVFlare's setting). */
  readonly fpr?: number;
  /** Per-task timeout in ms; default 0 (none). */
  readonly taskTimeoutMs?: number;
}

type ReplyOf<S extends PsiReplyStep['step']> = Extract<PsiReplyPayload, { step: S }>;

export class PsiController implements Workflow {
  readonly name = 'psi';
  readonly #session: PsiSessionOptions;
  readonly #timeoutMs: number;
  #pairingCount = 0;

  constructor(options: PsiControllerOptions = {}) {
    this.#session = {
      mode: options.mode ?? 'fast',
      container: options.container ?? 'bloom',
      fpr: options.fpr ?? 1e-11,
    };
    // Validate the fpr once, up front (a client count of 1 is the most permissive).
    sizing(this.#session.fpr, 1, 0);
    this.#timeoutMs = options.taskTimeoutMs ?? 0;
  }

  async run(api: ControllerApi): Promise<void> {
    const sites = api.clients;
    if (sites.length < 2) {
      throw new VflareError(
        'INVALID_CONFIG',
        `PSI needs at least two sites, the job has ${sites.length}`,
      );
    }
    this.#sizes.clear();
    const counts = await this.#ask(api, sites, () => ({ step: 'prepare' }), 'count');
    let current = sortBySize(sites.map((site) => ({ site, size: counts.get(site)!.count })));
    api.logger.info({ sites: sites.length }, 'PSI: prepared');

    // Forward pass.
    let round = 0;
    while (current.length > 1) {
      const { pairs, waiting } = forwardRound(current);
      const next: SiteSize[] = [];
      const sizes = await this.#pairings(
        api,
        pairs.map((p) => ({ server: p.server, clients: [p.client] })),
        new Map(current.map((s) => [s.site, s.size])),
      );
      for (const p of pairs) next.push({ site: p.client, size: sizes.get(p.client)! });
      if (waiting !== null) next.push(waiting);
      round++;
      api.logger.info({ round, sites: next.length }, 'PSI: forward round done');
      if (next.some((s) => s.size === 0)) return this.#finish(api, sites, true);
      current = sortBySize(next);
    }

    // Backward pass: F serves every other site.
    const final = current[0]!;
    const others = sites.filter((s) => s !== final.site);
    const sizes = new Map<string, number>();
    // The sites that only served still hold their original sets.
    for (const s of sites) sizes.set(s, counts.get(s)!.count);
    for (const [s, n] of this.#sizes) sizes.set(s, n);
    const after = await this.#pairings(api, [{ server: final.site, clients: others }], sizes);
    const bad = others.filter((s) => after.get(s) !== final.size);
    if (bad.length > 0) {
      throw new VflareError(
        'INTERNAL',
        `PSI backward pass: ${bad.length} site(s) ended with a size other than the final ` +
          `intersection's ${final.size} (${bad.map((s) => `${s}: ${after.get(s)}`).join(', ')})`,
      );
    }
    api.reportRounds(round + 1);
    await this.#finish(api, sites, final.size === 0);
  }

  /** Current sizes after intersections, by site. */
  readonly #sizes = new Map<string, number>();

  /**
   * Runs pairings in parallel: each server builds one setup per distinct size of its clients,
   * every client requests, each server answers all its clients, every client intersects.
   * Returns the clients' new sizes.
   */
  async #pairings(
    api: ControllerApi,
    groups: readonly { server: string; clients: readonly string[] }[],
    sizeOf: ReadonlyMap<string, number>,
  ): Promise<Map<string, number>> {
    const ids = new Map(groups.map((g) => [g.server, `pairing-${++this.#pairingCount}`]));
    const pairingOf = new Map<string, string>();
    const distinct = new Map<string, number[]>();
    for (const g of groups) {
      for (const c of g.clients) pairingOf.set(c, ids.get(g.server)!);
      distinct.set(g.server, [...new Set(g.clients.map((c) => sizeOf.get(c)!))]);
    }
    const servers = groups.map((g) => g.server);
    const clients = groups.flatMap((g) => g.clients);
    const session = this.#session;

    // Setup (servers) and request (clients) run as one parallel task.
    const first = await this.#ask(api, [...servers, ...clients], (site) =>
      distinct.has(site)
        ? { step: 'setup', pairing: ids.get(site)!, session, partnerCounts: distinct.get(site)! }
        : { step: 'request', pairing: pairingOf.get(site)!, session },
    );
    const setupFor = (client: string): Uint8Array => {
      const g = groups.find((x) => x.clients.includes(client))!;
      const r = this.#expect(first.get(g.server)!, 'setup', g.server);
      return r.setups[distinct.get(g.server)!.indexOf(sizeOf.get(client)!)]!;
    };
    const requests = new Map(
      clients.map((c) => [c, this.#expect(first.get(c)!, 'request', c).request]),
    );
    const responses = await this.#ask(
      api,
      servers,
      (site) => ({
        step: 'response',
        pairing: ids.get(site)!,
        requests: groups.find((g) => g.server === site)!.clients.map((c) => requests.get(c)!),
      }),
      'response',
    );
    const responseFor = (client: string): Uint8Array => {
      const g = groups.find((x) => x.clients.includes(client))!;
      return responses.get(g.server)!.responses[g.clients.indexOf(client)]!;
    };
    const counts = await this.#ask(
      api,
      clients,
      (site) => ({
        step: 'intersect',
        pairing: pairingOf.get(site)!,
        setup: setupFor(site),
        response: responseFor(site),
      }),
      'count',
    );
    const out = new Map<string, number>();
    for (const c of clients) {
      out.set(c, counts.get(c)!.count);
      this.#sizes.set(c, counts.get(c)!.count);
    }
    return out;
  }

  async #finish(api: ControllerApi, sites: readonly string[], empty: boolean): Promise<void> {
    await this.#ask(api, sites, () => ({ step: 'finish', empty }), 'count');
    api.logger.info({ sites: sites.length, empty }, 'PSI: results saved at every site');
  }

  /** One task to `targets` with per-site data; every target must answer `ok`. */
  async #ask<S extends PsiReplyStep['step']>(
    api: ControllerApi,
    targets: readonly string[],
    data: (site: string) => PsiTaskStep,
    expectStep?: S,
  ): Promise<Map<string, S extends PsiReplyStep['step'] ? ReplyOf<S> : PsiReplyPayload>> {
    if (api.signal.aborted) throw new VflareError('ABORTED', 'PSI: the job was aborted');
    const outcome = await api.broadcastAndWait(
      { name: PSI_TASK, data: (site) => task(data(site)), timeoutMs: this.#timeoutMs },
      { targets, minResponses: 0 },
    );
    const out = new Map<string, PsiReplyPayload>();
    for (const site of targets) {
      const r = outcome.results.get(site);
      if (r === undefined || r.rc !== 'ok') {
        const why = r === undefined ? `no answer (task ${outcome.completion})` : (r.reason ?? r.rc);
        throw new VflareError('TASK_FAILED', `PSI: site "${site}" failed: ${why}`, {
          context: { site, task: PSI_TASK },
        });
      }
      const p = r.payload;
      const checked =
        expectStep === undefined ? this.#reply(p, site) : this.#expect(p, expectStep, site);
      out.set(site, checked);
    }
    return out as never;
  }

  #reply(p: Payload | null, site: string): PsiReplyPayload {
    if (p === null || p.kind !== 'psi.reply') {
      throw new VflareError('PROTOCOL_ERROR', `PSI: site "${site}" answered with no PSI reply`);
    }
    return p;
  }

  #expect<S extends PsiReplyStep['step']>(
    p: Payload | PsiReplyPayload | null,
    step: S,
    site: string,
  ): ReplyOf<S> {
    const r = this.#reply(p as Payload | null, site);
    if (r.step !== step) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `PSI: site "${site}" answered "${r.step}" where "${step}" was expected`,
      );
    }
    return r as ReplyOf<S>;
  }
}
