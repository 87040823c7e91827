/**
 * The site side of the N-site PSI workflow: loads the site's items once, plays PSI server or
 * client as the controller asks (fresh keys for every pairing), and at the end leaves the
 * global intersection, in the site's input order, in the job state (`psi.intersection`) and in
 * `<site workspace>/psi/intersection.txt`.
 */
import { join } from 'node:path';
import {
  type Executor,
  type ExecutorContext,
  type Payload,
  type TaskData,
  VflareError,
} from '../runtime/core/index.js';
import { countDuplicates, type ItemSource, loadItems, writeItems } from './loaders.js';
import { PSI_TASK, type PsiSessionOptions, type PsiTaskPayload, reply } from './messages.js';
import type { PsiPool } from './pool.js';
import { PsiClient, PsiServer } from './protocol.js';
import {
  decodeRequest,
  decodeResponse,
  decodeSetup,
  encodeRequest,
  encodeResponse,
  encodeSetup,
} from './wire.js';

/** Where the result file goes, relative to the site's workspace for the job. */
export const RESULT_FILE = join('psi', 'intersection.txt');

export interface PsiExecutorOptions {
  /** The site's items: a fixed list, a source file, or a loader. */
  readonly items: readonly string[] | ItemSource | ((ctx: ExecutorContext) => Promise<string[]>);
  /** Worker pool for the scalar work (default: the shared all-core pool). */
  readonly pool?: PsiPool;
}

function site(ctx: ExecutorContext, message: string, code: 'PROTOCOL_ERROR' | 'INVALID_DATA') {
  return new VflareError(code, `site "${ctx.site}": ${message}`, { context: { site: ctx.site } });
}

export class PsiExecutor implements Executor {
  readonly tasks = [PSI_TASK];
  readonly #options: PsiExecutorOptions;
  #items: string[] | null = null;
  /** Indices into #items of the current set (ascending, so input order is kept). */
  #current: number[] = [];
  readonly #servers = new Map<string, PsiServer>();
  readonly #clients = new Map<string, PsiClient>();

  constructor(options: PsiExecutorOptions) {
    this.#options = options;
  }

  async execute(task: TaskData, ctx: ExecutorContext): Promise<Payload | null> {
    const p = task.payload;
    if (p === null || p.kind !== 'psi.task') {
      throw site(ctx, `the PSI task carries no "psi.task" payload`, 'PROTOCOL_ERROR');
    }
    return this.#step(p, ctx);
  }

  async #step(p: PsiTaskPayload, ctx: ExecutorContext): Promise<Payload> {
    switch (p.step) {
      case 'prepare':
        return reply({ step: 'count', count: (await this.#load(ctx)).length });
      case 'setup': {
        const server = PsiServer.create({ mode: p.session.mode, ...this.#pool() });
        this.#servers.set(p.pairing, server);
        const items = this.#currentItems(ctx);
        const setups: Uint8Array[] = [];
        for (const n of p.partnerCounts) {
          const s = await server.createSetup(items, {
            ...this.#setupOptions(p.session),
            numClientInputs: n,
          });
          setups.push(encodeSetup(s));
        }
        return reply({ step: 'setup', setups });
      }
      case 'request': {
        const client = PsiClient.create({ mode: p.session.mode, ...this.#pool() });
        this.#clients.set(p.pairing, client);
        const req = await client.createRequest(this.#currentItems(ctx));
        return reply({ step: 'request', request: encodeRequest(req) });
      }
      case 'response': {
        const server = this.#take(this.#servers, p.pairing, ctx);
        const responses: Uint8Array[] = [];
        for (const r of p.requests) {
          responses.push(encodeResponse(await server.processRequest(decodeRequest(r))));
        }
        return reply({ step: 'response', responses });
      }
      case 'intersect': {
        const client = this.#take(this.#clients, p.pairing, ctx);
        const hits = await client.intersection(decodeSetup(p.setup), decodeResponse(p.response));
        this.#current = hits.map((i) => this.#current[i]!);
        return reply({ step: 'count', count: this.#current.length });
      }
      case 'finish': {
        if (p.empty) this.#current = [];
        const items = this.#current.map((i) => this.#items![i]!);
        this.#servers.clear();
        this.#clients.clear();
        ctx.jobState.set('psi.intersection', items);
        await writeItems(join(ctx.workspace, RESULT_FILE), items);
        ctx.reportMetrics({ items: this.#items?.length ?? 0, intersection: items.length });
        return reply({ step: 'count', count: items.length });
      }
    }
  }

  #pool(): { pool?: PsiPool } {
    return this.#options.pool === undefined ? {} : { pool: this.#options.pool };
  }

  #setupOptions(session: PsiSessionOptions) {
    return { fpr: session.fpr, container: session.container };
  }

  #take<T>(map: Map<string, T>, pairing: string, ctx: ExecutorContext): T {
    const v = map.get(pairing);
    if (v === undefined) {
      throw site(ctx, `no PSI session "${pairing}" is open here`, 'PROTOCOL_ERROR');
    }
    map.delete(pairing);
    return v;
  }

  #currentItems(ctx: ExecutorContext): string[] {
    if (this.#items === null) throw site(ctx, 'the PSI items were never loaded', 'PROTOCOL_ERROR');
    return this.#current.map((i) => this.#items![i]!);
  }

  async #load(ctx: ExecutorContext): Promise<string[]> {
    if (this.#items !== null) return this.#items;
    const src = this.#options.items;
    const items = Array.isArray(src)
      ? [...(src as readonly string[])]
      : typeof src === 'function'
        ? await src(ctx)
        : await loadItems(src as ItemSource, ctx.dataRoot);
    if (items.length === 0) throw site(ctx, 'the PSI item set is empty', 'INVALID_DATA');
    const dups = countDuplicates(items);
    if (dups > 0) {
      throw site(
        ctx,
        `the PSI items contain ${dups} duplicate(s); items must be unique`,
        'INVALID_DATA',
      );
    }
    this.#items = items;
    this.#current = items.map((_, i) => i);
    return items;
  }
}
