/**
 * The server engine driven by hand-written frames from a raw in-memory link: what a
 * misbehaving or re-connecting site can do, and how the engine answers.
 */
import { describe, expect, it } from 'vitest';
import {
  type ControllerApi,
  silentLogger,
  type TaskOutcome,
  type TaskResult,
} from '../../../src/runtime/core/index.js';
import { ServerEngine } from '../../../src/runtime/engine/index.js';
import {
  decodeMessage,
  encodeMessage,
  InMemoryNetwork,
  type WireMessage,
} from '../../../src/runtime/transport/index.js';
import { metrics, serverApp, sleep, tmpWorkspace } from './helpers.js';

/** A site speaking the wire protocol by hand. */
async function rawSite(network: InMemoryNetwork, site: string) {
  const inbox: WireMessage[] = [];
  const waiters: (() => void)[] = [];
  const endpoint = network.client(site);
  await endpoint.connect({
    onFrame: (frame) => {
      inbox.push(decodeMessage(frame));
      for (const w of waiters.splice(0)) w();
    },
  });
  return {
    send: (msg: WireMessage) => endpoint.send(encodeMessage(msg)),
    sendBytes: (bytes: Uint8Array) => endpoint.send(bytes),
    /** Resolves with the next message of `type`, removing it from the inbox. */
    async next<T extends WireMessage['type']>(type: T, timeoutMs = 2_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type);
        if (i >= 0) return inbox.splice(i, 1)[0] as Extract<WireMessage, { type: T }>;
        if (Date.now() > deadline) throw new Error(`no ${type} message`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(20)]);
      }
    },
    inbox,
  };
}

async function start(workflow: (api: ControllerApi) => Promise<void>, sites = ['site-1']) {
  const network = new InMemoryNetwork();
  const engine = new ServerEngine({
    jobId: 'job',
    clients: sites,
    app: serverApp(workflow),
    endpoint: network.server(),
    workspace: tmpWorkspace(),
    seed: 1,
    logger: silentLogger,
    joinTimeoutMs: 2_000,
    byeTimeoutMs: 50,
  });
  await engine.start();
  const raw = await Promise.all(sites.map((s) => rawSite(network, s)));
  for (const r of raw) {
    await r.send({ type: 'hello', jobId: 'job' });
    await r.next('welcome');
  }
  return { engine, raw, summary: engine.run() };
}

const resultOf = (headers: TaskResult['headers'], site: string, v: number): WireMessage => ({
  type: 'result',
  result: { headers, site, rc: 'ok', payload: metrics({ v }) },
});

describe('task hand-out protocol', () => {
  it('gives a site that asks again before answering the same task again', async () => {
    let outcome: TaskOutcome | undefined;
    const { raw, summary } = await start(async (api) => {
      outcome = await api.broadcastAndWait({ name: 'train', data: metrics({ v: 1 }) });
    });
    const site = raw[0]!;
    await site.send({ type: 'get-task', reqId: 1, waitMs: 1_000 });
    const first = await site.next('task');
    await site.send({ type: 'get-task', reqId: 2, waitMs: 1_000 });
    const again = await site.next('task');
    expect(first.resend).toBe(false);
    expect(again.resend).toBe(true);
    expect(again.task.headers.taskId).toBe(first.task.headers.taskId);
    await site.send(resultOf(first.task.headers, 'site-1', 9));
    await summary;
    expect(outcome?.completion).toBe('ok');
  });

  it('answers a long-poll with no-task when nothing arrives in time', async () => {
    const { raw, summary } = await start(async () => {
      await sleep(300);
    });
    const t0 = Date.now();
    await raw[0]!.send({ type: 'get-task', reqId: 5, waitMs: 100 });
    const reply = await raw[0]!.next('no-task');
    expect(reply.reqId).toBe(5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    await summary;
  });

  it('drops a result that names another site, a late result and a malformed frame', async () => {
    const seen: string[] = [];
    let outcome: TaskOutcome | undefined;
    const { raw, summary } = await start(
      async (api) => {
        outcome = await api.broadcastAndWait(
          { name: 'train', data: null, timeoutMs: 1_000, onResult: (r) => seen.push(r.site) },
          { minResponses: 2 },
        );
        await sleep(500);
      },
      ['site-1', 'site-2'],
    );
    const [one, two] = raw as [
      Awaited<ReturnType<typeof rawSite>>,
      Awaited<ReturnType<typeof rawSite>>,
    ];
    await one.send({ type: 'get-task', reqId: 1, waitMs: 1_000 });
    const task = await one.next('task');
    await one.sendBytes(Uint8Array.from([0x56, 0x46, 1, 0, 255, 255, 255, 255, 1]));
    // site-1 claims to be site-2: dropped.
    await one.send(resultOf(task.task.headers, 'site-2', 1));
    await one.send(resultOf(task.task.headers, 'site-1', 1));
    await two.send({ type: 'get-task', reqId: 1, waitMs: 1_000 });
    const late = await two.next('task');
    await sleep(1_200);
    await two.send(resultOf(late.task.headers, 'site-2', 2));
    await summary;
    expect(outcome?.completion).toBe('timeout');
    expect(seen).toEqual(['site-1']);
    // The engine told site-2, still holding the task at the timeout, to abort it.
    expect(await two.next('abort')).toEqual({ type: 'abort', taskId: task.task.headers.taskId });
  });

  it('relays peer requests only between parties of the job and checks the sender', async () => {
    const { raw, summary } = await start(async () => {
      await sleep(300);
    }, ['site-1', 'site-2']);
    const [one, two] = raw as [
      Awaited<ReturnType<typeof rawSite>>,
      Awaited<ReturnType<typeof rawSite>>,
    ];
    const request = (from: string, to: string[]): WireMessage => ({
      type: 'peer-request',
      reqId: 'r1',
      from,
      to,
      topic: 't',
      payload: null,
      timeoutMs: 1_000,
      oneWay: false,
    });
    await one.send(request('site-1', ['outsider']));
    const refused = await one.next('peer-reply');
    expect(refused.from).toBe('outsider');
    expect(refused.reply.rc).toBe('communication-error');
    // A forged sender is dropped; a genuine one is forwarded as is.
    await one.send(request('site-2', ['site-2']));
    await one.send(request('site-1', ['site-2']));
    const forwarded = await two.next('peer-request');
    expect(forwarded.from).toBe('site-1');
    expect(two.inbox.filter((m) => m.type === 'peer-request')).toHaveLength(0);
    await summary;
  });

  it('tells sites to leave when the job ends and puts their metrics in the summary', async () => {
    const { raw, summary } = await start(async (api) => {
      api.reportMetrics({ accuracy: 0.875 });
      api.reportRounds(3);
      await sleep(100);
    });
    await raw[0]!.send({ type: 'metrics', metrics: { rows: 569 } });
    const bye = await raw[0]!.next('bye', 3_000);
    expect(bye.reason).toBe('job completed');
    const result = await summary;
    expect(result).toEqual({
      job: 'job',
      status: 'completed',
      rounds: 3,
      server: { metrics: { accuracy: 0.875 } },
      sites: { 'site-1': { metrics: { rows: 569 } } },
    });
  });
});

describe('in-memory driver', () => {
  it('refuses frames over its size limit and drops frames of a severed link', async () => {
    const network = new InMemoryNetwork({ maxFrameBytes: 64 });
    const got: string[] = [];
    await network.server().start({ onFrame: (site) => got.push(site) });
    const client = network.client('a');
    await client.connect({ onFrame: () => {} });
    await expect(client.send(new Uint8Array(65))).rejects.toMatchObject({
      code: 'MESSAGE_TOO_BIG',
    });
    await client.send(new Uint8Array(8));
    await sleep(0);
    network.sever('a');
    await client.send(new Uint8Array(8));
    await sleep(0);
    expect(got).toEqual(['a']);
    await expect(network.server().send('nobody', new Uint8Array(1))).rejects.toMatchObject({
      code: 'PEER_FAILED',
    });
  });
});
