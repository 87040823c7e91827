/**
 * Job folders and job results larger than one message: `submit_job` and `download_job` move
 * them in chunks, each under the message limit, and the server deploys them to the sites as a
 * stream of parts.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Session } from '../../src/deploy/admin/session.js';
import { ClientProcess } from '../../src/deploy/client/client-process.js';
import { readFolderFiles } from '../../src/deploy/files.js';
import { chunksOf } from '../../src/deploy/grpc/chunks.js';
import { callUnary, FederationClient, makeGrpcClient } from '../../src/deploy/grpc/client.js';
import {
  DEPLOY_PART_BYTES,
  deployPartsOf,
  JobPartReceiver,
} from '../../src/deploy/grpc/job-parts.js';
import { linkSettings } from '../../src/deploy/grpc/link.js';
import {
  type DeployPart,
  decode,
  encode,
  serverControlSchema,
  siteControlSchema,
} from '../../src/deploy/grpc/protocol.js';
import { type ProvisionResult, provision } from '../../src/deploy/provision/index.js';
import { loadKit } from '../../src/deploy/provision/kit.js';
import { ServerProcess } from '../../src/deploy/server/server-process.js';
import {
  defineComponent,
  type Executor,
  type Logger,
  type RunSummary,
  silentLogger,
} from '../../src/runtime/core/index.js';
import { testRegistry, writeSagJob } from './helpers.js';

const HELLO = resolve('examples/hello-stats');
const MAX_MESSAGE = 256 * 1024;
let dir: string;
let kits: ProvisionResult;
let server: ServerProcess;
let admin: Session;

/** Deterministic bytes that no layer could shrink by accident (a 32-bit xorshift stream). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-transfer-'));
  kits = await provision({
    project: 'transfer',
    server: { host: 'localhost', port: 0 },
    serverAltNames: ['127.0.0.1'],
    sites: [{ name: 'site-1' }],
    admins: [{ name: 'admin', role: 'project-admin' }],
    out: join(dir, 'kits'),
    // Small messages and chunks, so that a few hundred KiB span several of each.
    transport: { maxMessageBytes: MAX_MESSAGE, chunkBytes: 64 * 1024, maxJobBytes: 4 << 20 },
    // No site ever connects: a submitted job waits (it is only here to be transferred).
    scheduler: { minScheduleIntervalMs: 60_000, maxScheduleIntervalMs: 60_000 },
  });
  server = await ServerProcess.start({
    kitDir: kits.serverKit,
    host: '127.0.0.1',
    port: 0,
    startupGraceMs: 60_000,
  });
  admin = await Session.open(kits.adminKits['admin']!, { port: server.port });
});

afterAll(async () => {
  admin?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('chunked submit_job and download_job', () => {
  it('submits a job folder several times the message limit, byte for byte', async () => {
    const job = join(dir, 'big-job');
    await cp(HELLO, job, { recursive: true });
    const blob = noise(900 * 1024, 7);
    await mkdir(join(job, 'app', 'custom'), { recursive: true });
    await writeFile(join(job, 'app', 'custom', 'weights.bin'), blob);
    expect(encode(await readFolderFiles(job)).byteLength).toBeGreaterThan(3 * MAX_MESSAGE);

    const id = await admin.submitJob(job);
    const stored = server.store.jobDir(id);
    expect(Buffer.compare(await readFile(join(stored, 'app', 'custom', 'weights.bin')), blob)).toBe(
      0,
    );
    expect(await readFile(join(stored, 'meta.json'), 'utf8')).toBe(
      await readFile(join(HELLO, 'meta.json'), 'utf8'),
    );
    // The job's own data/ folder is not shipped: deployed jobs read each party's data root.
    await expect(stat(join(stored, 'data'))).rejects.toThrow(/ENOENT/);
    expect((await admin.getJobMeta(id)).status).toBe('submitted');
    await admin.abortJob(id);
  });

  it('downloads a job result several times the message limit, byte for byte', async () => {
    const id = await admin.submitJob(HELLO);
    await admin.abortJob(id);
    // What a job's server side would have written: a large output and a summary.
    const ws = server.store.workspaceDir(id);
    const model = noise(1000 * 1024 + 17, 11);
    await mkdir(join(ws, 'server'), { recursive: true });
    await writeFile(join(ws, 'server', 'model.bin'), model);
    await writeFile(join(ws, 'summary.json'), '{"status":"aborted"}');

    const out = await admin.downloadJobResult(id, join(dir, 'results'));
    expect(out).toBe(join(dir, 'results', id));
    expect(Buffer.compare(await readFile(join(out, 'server', 'model.bin')), model)).toBe(0);
    expect(await readFile(join(out, 'summary.json'), 'utf8')).toBe('{"status":"aborted"}');
  });

  it('refuses a job over maxJobBytes before sending it, with the size and the limit', async () => {
    const job = join(dir, 'too-big');
    await cp(HELLO, job, { recursive: true });
    await writeFile(join(job, 'app', 'blob.bin'), noise(5 << 20, 3));
    await expect(admin.submitJob(job)).rejects.toThrow(
      /submit_job .*too-big: the job packs to \d+ bytes, more than 4194304 \(transport/,
    );
    // Nothing reached the store.
    expect((await admin.listJobs()).map((j) => j.name)).not.toContain('too-big');
  });

  it('keeps both limits at the server: maxMessageBytes and maxJobBytes', async () => {
    const kit = await loadKit(kits.adminKits['admin']!, 'admin');
    const raw = makeGrpcClient({
      kit,
      link: linkSettings(kit.config.transport),
      host: 'localhost',
      port: server.port,
    });
    try {
      // The old way, the whole folder in one message, cannot pass the limit.
      const files = [{ path: 'meta.json', data: noise(MAX_MESSAGE + 100 * 1024, 5) }];
      await expect(
        callUnary(raw, 'admin', encode({ command: 'submit_job', files }), 10_000),
      ).rejects.toThrow(/larger than max|RESOURCE_EXHAUSTED|exceeds/i);
      // A first chunk that announces more than maxJobBytes is refused, naming the limit.
      const first = chunksOf(noise(5 << 20, 9), 1, 64 * 1024).next().value!;
      const reply = unpack(
        await callUnary(raw, 'admin', encode({ command: 'upload_chunk', chunk: first }), 10_000),
      ) as { ok: boolean; error: string };
      expect(reply).toEqual({
        ok: false,
        code: 'MESSAGE_TOO_BIG',
        error:
          'the job is larger than this server accepts (4194304 bytes packed, ' +
          'transport.maxJobBytes of its kit)',
      });
    } finally {
      raw.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Deploying a job larger than one message to the sites

describe('the deploy part stream', () => {
  const folder = fc
    .array(fc.record({ dir: fc.boolean(), size: fc.nat(40_000) }), { minLength: 1, maxLength: 12 })
    .map((specs) =>
      specs.map((f, i) => ({
        path: f.dir ? `app/custom/f${i}.bin` : `f${i}.bin`,
        data: noise(f.size, i + 1),
      })),
    );
  const cap = fc.integer({ min: 4 * 1024, max: 64 * 1024 });

  it('cuts any job folder into parts under the cap that reassemble byte for byte', () => {
    fc.assert(
      fc.property(folder, cap, (files, max) => {
        const parts = deployPartsOf('job-1', 'job', files, max);
        const receiver = new JobPartReceiver(parts[0]!, 1 << 30);
        const got = new Map<string, Uint8Array[]>();
        for (const p of parts) {
          expect(encode(p).byteLength).toBeLessThanOrEqual(max);
          expect(p.last).toBe(p.seq === parts.length - 1);
          for (const w of receiver.accept(p)) {
            if (w.offset === 0) got.set(w.path, []);
            got.get(w.path)!.push(w.data);
          }
        }
        expect(receiver.complete).toBe(true);
        expect([...got.keys()]).toEqual(files.map((f) => f.path));
        for (const f of files) {
          expect(Buffer.compare(Buffer.concat(got.get(f.path)!), f.data)).toBe(0);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a part stream with a part missing, repeated or moved', () => {
    fc.assert(
      fc.property(
        folder,
        cap,
        fc.nat(),
        fc.constantFrom('drop', 'repeat', 'swap'),
        (files, max, pick, how) => {
          const parts = deployPartsOf('job-1', 'job', files, max);
          fc.pre(parts.length >= 2);
          const k = 1 + (pick % (parts.length - 1));
          const stream = [...parts];
          if (how === 'drop') stream.splice(k, 1);
          else if (how === 'repeat') stream.splice(k, 0, parts[k]!);
          else [stream[k - 1], stream[k]] = [stream[k]!, stream[k - 1]!];
          const run = () => {
            const receiver = new JobPartReceiver(stream[0]!, 1 << 30);
            for (const p of stream) receiver.accept(p);
            return receiver.complete;
          };
          if (how === 'drop' && k === parts.length - 1) {
            // Nothing is wrong with what came, but it never completes: the site's progress
            // timeout ends such a deploy (tested over the network below).
            expect(run()).toBe(false);
          } else
            expect(run).toThrow(/^malformed job deploy: part \d+ arrived (where|before|after)/);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('validates parts and acknowledgements like every other control message', () => {
    const ok = deployPartsOf('job-1', 'job', [{ path: 'meta.json', data: noise(10, 1) }], 4096)[0]!;
    expect(decode(serverControlSchema, encode(ok), 'control')).toMatchObject({
      seq: 0,
      last: true,
    });
    const bad: [Record<string, unknown>, string][] = [
      [{ ...ok, seq: -1 }, 'seq'],
      [{ ...ok, fileCount: 0 }, 'fileCount'],
      [{ ...ok, fragments: [{ ...ok.fragments[0], data: 'text' }] }, 'fragments.0.data'],
      [{ ...ok, fragments: [{ ...ok.fragments[0], extra: 1 }] }, 'fragments.0'],
      [{ ...ok, jobId: '' }, 'jobId'],
    ];
    for (const [message, where] of bad) {
      expect(() => decode(serverControlSchema, encode(message), 'control')).toThrow(
        new RegExp(`^control: malformed \\(${where.replaceAll('.', '\\.')}: `),
      );
    }
    expect(() =>
      decode(siteControlSchema, encode({ type: 'deploy_ack', jobId: 'j', seq: 1.5 }), 'control'),
    ).toThrow(/^control: malformed \(seq: /);
  });

  it('keeps parts within the part budget and says when the cap leaves no room', () => {
    const big = [{ path: 'app/custom/w.bin', data: noise(DEPLOY_PART_BYTES + 10, 3) }];
    const parts = deployPartsOf('job-1', 'job', big, 1 << 30);
    // Each fragment also spends its path and 64 bytes of fields of the part's budget.
    const overhead = 'app/custom/w.bin'.length + 64;
    expect(parts.map((p) => p.fragments[0]!.data.byteLength)).toEqual([
      DEPLOY_PART_BYTES - overhead,
      overhead + 10,
    ]);
    expect(() => deployPartsOf('job-1', 'job', big, 1000)).toThrow(
      'cannot deploy job job-1: transport.maxMessageBytes (1000 bytes) leaves no room for a ' +
        'part carrying one of its files; raise it in the kits',
    );
  });
});

interface LogLine {
  readonly level: string;
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/** A logger that keeps every line (with its bindings), to check what was logged and why. */
function capturingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push(
        typeof obj === 'string'
          ? { level, fields: { ...bindings }, msg: obj }
          : { level, fields: { ...bindings, ...obj }, msg: msg ?? '' },
      );
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

/**
 * Wraps the job's own executor: before each task it hashes a file of the job folder as the site
 * received it and reports its size and the first 48 bits of its SHA-256 as metrics, which reach
 * the server's `summary.json` (so the downloaded result proves what each site got).
 */
const blobDigest = defineComponent({
  type: 'test.BlobDigest',
  args: z.strictObject({ file: z.string(), inner: z.string() }),
  create: (args, env): Executor => {
    const inner = env.resolve(args.inner) as Executor;
    return {
      tasks: inner.tasks,
      async execute(task, ctx) {
        const bytes = await readFile(join(env.jobDir, args.file));
        const digest = createHash('sha256').update(bytes).digest();
        ctx.reportMetrics({ blobBytes: bytes.byteLength, blobSha48: digest.readUIntBE(0, 6) });
        return inner.execute(task, ctx);
      },
      ...(inner.initialize ? { initialize: (c) => inner.initialize!(c) } : {}),
      ...(inner.finalize ? { finalize: (c) => inner.finalize!(c) } : {}),
    };
  },
});

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('deploying a job larger than the message cap to the sites', () => {
  // Generous: a loaded CI machine must never stall a healthy transfer this long.
  const PROGRESS_MS = 5_000;
  const registry = testRegistry();
  registry.register(blobDigest);
  const blob = noise(900 * 1024, 21);
  const blobSha48 = createHash('sha256').update(blob).digest().readUIntBE(0, 6);
  const siteLog: LogLine[] = [];
  let fed: ProvisionResult;
  let fedServer: ServerProcess;
  let fedAdmin: Session;
  const sites: ClientProcess[] = [];

  beforeAll(async () => {
    fed = await provision({
      project: 'deploy',
      server: { host: 'localhost', port: 0 },
      serverAltNames: ['127.0.0.1'],
      sites: [{ name: 'site-1' }, { name: 'site-2' }, { name: 'site-3' }],
      admins: [{ name: 'admin', role: 'project-admin' }],
      out: join(dir, 'deploy-kits'),
      transport: {
        maxMessageBytes: MAX_MESSAGE,
        chunkBytes: 64 * 1024,
        maxJobBytes: 4 << 20,
        progressTimeoutMs: PROGRESS_MS,
        heartbeatMs: 200,
      },
      scheduler: { minScheduleIntervalMs: 100, maxScheduleIntervalMs: 200, maxScheduleCount: 5 },
    });
    for (const site of ['site-1', 'site-2']) {
      await writeFile(
        join(fed.siteKits[site]!, 'local', 'site.json'),
        JSON.stringify({ dataRoot: HELLO }),
      );
    }
    fedServer = await ServerProcess.start({
      kitDir: fed.serverKit,
      registry,
      host: '127.0.0.1',
      port: 0,
      tickMs: 100,
      startupGraceMs: 0,
      deployTimeoutMs: 10_000,
      byeTimeoutMs: 1_500,
    });
    for (const site of ['site-1', 'site-2']) {
      sites.push(
        await ClientProcess.start({
          kitDir: fed.siteKits[site]!,
          registry,
          logger: capturingLogger(siteLog),
          host: 'localhost',
          port: fedServer.port,
          minBackoffMs: 50,
          maxBackoffMs: 200,
        }),
      );
    }
    fedAdmin = await Session.open(fed.adminKits['admin']!, {
      port: fedServer.port,
      timeoutMs: 10_000,
    });
  });

  afterAll(async () => {
    fedAdmin?.close();
    for (const s of sites) await s.stop();
    await fedServer?.stop();
  });

  /** The refusal site-1 logged for `jobId`, once it is there. */
  async function refusal(jobId: string): Promise<string> {
    const find = () =>
      siteLog.find(
        (l) =>
          l.level === 'warn' &&
          l.msg === 'refused a job' &&
          l.fields['job'] === jobId &&
          l.fields['site'] === 'site-1',
      );
    await until(() => find() !== undefined, 4 * PROGRESS_MS);
    return String(find()!.fields['reason']);
  }

  function part(jobId: string, fields: Partial<DeployPart>): DeployPart {
    return {
      type: 'deploy_part',
      jobId,
      jobName: 'hostile',
      seq: 0,
      last: false,
      totalBytes: 10,
      fileCount: 1,
      fragments: [{ path: 'meta.json', size: 10, offset: 0, data: new Uint8Array(4) }],
      ...fields,
    };
  }

  it('refuses malformed part streams at the site with a logged reason', async () => {
    const send = (p: DeployPart) => fedServer.transport.sendControl('site-1', p);
    const ws = join(fed.siteKits['site-1']!, 'workspace');

    await send(
      part('escape', {
        last: true,
        totalBytes: 3,
        fragments: [{ path: '../escaped', size: 3, offset: 0, data: new Uint8Array(3) }],
      }),
    );
    expect(await refusal('escape')).toBe(
      'malformed job deploy: file path "../escaped" is not a normalised relative path',
    );
    await expect(stat(join(ws, 'escaped'))).rejects.toThrow(/ENOENT/);

    await send(part('gap', {}));
    await send(part('gap', { seq: 2 }));
    expect(await refusal('gap')).toBe(
      'malformed job deploy: part 2 arrived where part 1 was expected',
    );

    await send(part('overrun', {}));
    await send(
      part('overrun', {
        seq: 1,
        last: true,
        fragments: [{ path: 'meta.json', size: 10, offset: 4, data: new Uint8Array(7) }],
      }),
    );
    expect(await refusal('overrun')).toBe(
      'malformed job deploy: file "meta.json" overruns its size of 10 bytes',
    );

    await send(part('short', { last: true }));
    expect(await refusal('short')).toBe(
      'malformed job deploy: file "meta.json" ended at 4 of 10 bytes',
    );

    await send(part('huge', { totalBytes: 5 << 20 }));
    expect(await refusal('huge')).toBe(
      "the job's files total 5242880 bytes, more than the 4194304 bytes of this site's " +
        'transport.maxJobBytes',
    );

    // Nothing of the refused deploys stays on the site's disk.
    for (const id of ['escape', 'gap', 'overrun', 'short', 'huge']) {
      await until(async () => (await stat(join(ws, id)).catch(() => undefined)) === undefined);
    }
  });

  it('fails a deploy at the site once its parts stop coming (progress, not total)', async () => {
    await fedServer.transport.sendControl('site-1', part('stalled', {}));
    // A part that comes in time restarts the progress timeout: the deploy fails only once
    // nothing came for the whole timeout after it, more than the timeout after the start.
    const started = performance.now();
    const pause = 1_000;
    await new Promise((r) => setTimeout(r, pause));
    await fedServer.transport.sendControl(
      'site-1',
      part('stalled', {
        seq: 1,
        fragments: [{ path: 'meta.json', size: 10, offset: 4, data: new Uint8Array(2) }],
      }),
    );
    expect(await refusal('stalled')).toBe(
      `job deploy stalled: no part arrived for ${PROGRESS_MS} ms (6 of 10 bytes received)`,
    );
    // (Timers may fire a millisecond early against performance.now().)
    expect(performance.now() - started).toBeGreaterThan(PROGRESS_MS + pause - 50);
    await until(
      async () =>
        (await stat(join(fed.siteKits['site-1']!, 'workspace', 'stalled')).catch(
          () => undefined,
        )) === undefined,
    );
  });

  it('deploys a ~900 KiB job to 2 sites under a 256 KiB cap; runs; result downloads', async () => {
    const job = join(dir, 'big-stats');
    await cp(HELLO, job, { recursive: true, filter: (p) => p !== join(HELLO, 'data') });
    await writeFile(
      join(job, 'meta.json'),
      JSON.stringify({
        name: 'big-stats',
        deployMap: { app: ['server', 'site-1', 'site-2'] },
        minClients: 2,
      }),
    );
    const clientJson = join(job, 'app', 'config', 'client.json');
    const cfg = JSON.parse(await readFile(clientJson, 'utf8')) as {
      components: unknown[];
      executors: { tasks: string[]; executor: { id: string; type: string; args: unknown } }[];
    };
    const stats = cfg.executors[0]!;
    cfg.components.push({ id: 'inner', type: stats.executor.type, args: stats.executor.args });
    stats.executor = {
      id: 'digest',
      type: 'test.BlobDigest',
      args: { file: 'app/custom/weights.bin', inner: 'inner' },
    };
    await writeFile(clientJson, JSON.stringify(cfg));
    await mkdir(join(job, 'app', 'custom'), { recursive: true });
    await writeFile(join(job, 'app', 'custom', 'weights.bin'), blob);
    expect(encode(await readFolderFiles(job)).byteLength).toBeGreaterThan(3 * MAX_MESSAGE);

    const id = await fedAdmin.submitJob(job);
    expect(await fedAdmin.monitorJob(id, { timeoutMs: 60_000, pollMs: 100 })).toBe('finished');
    const meta = await fedAdmin.getJobMeta(id);
    expect(meta.deployDetail).toEqual({ server: 'ok', 'site-1': 'ok', 'site-2': 'ok' });
    expect(meta.status).toBe('finished:completed');
    for (const site of ['site-1', 'site-2']) {
      const got = await readFile(
        join(fed.siteKits[site]!, 'workspace', id, 'job', 'app', 'custom', 'weights.bin'),
      );
      expect(Buffer.compare(got, blob)).toBe(0);
    }

    const out = await fedAdmin.downloadJobResult(id, join(dir, 'deploy-results'));
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
    expect(summary.status).toBe('completed');
    for (const site of ['site-1', 'site-2']) {
      expect(summary.sites[site]?.metrics).toMatchObject({ blobBytes: blob.byteLength, blobSha48 });
    }
    const statistics = JSON.parse(
      await readFile(join(out, 'server', 'statistics.json'), 'utf8'),
    ) as unknown;
    expect(statistics).toBeTypeOf('object');
  });

  it('drops a site that stops acknowledging parts; the job runs on the others', async () => {
    const kit = await loadKit(fed.siteKits['site-3']!, 'site');
    // Registers and heartbeats like a site, but never answers a deploy.
    const silent = new FederationClient({
      kit,
      link: linkSettings(kit.config.transport),
      log: silentLogger,
      onControl: () => undefined,
      host: 'localhost',
      port: fedServer.port,
      minBackoffMs: 50,
    });
    try {
      await silent.start();
      const job = await writeSagJob(join(dir, 'sag-silent'), {
        name: 'sag-silent',
        sites: ['site-1', 'site-3'],
        minClients: 1,
        rounds: 1,
        delayMs: 10,
      });
      await mkdir(join(job, 'app', 'custom'), { recursive: true });
      await writeFile(join(job, 'app', 'custom', 'blob.bin'), blob);
      const id = await fedAdmin.submitJob(job);
      expect(await fedAdmin.monitorJob(id, { timeoutMs: 60_000, pollMs: 100 })).toBe('finished');
      const meta = await fedAdmin.getJobMeta(id);
      expect(meta.status).toBe('finished:completed');
      expect(meta.deployDetail).toEqual({
        server: 'ok',
        'site-1': 'ok',
        'site-3':
          `no deploy progress: the site acknowledged no part for ${PROGRESS_MS} ms ` +
          '(0 of 4 parts written)',
      });
      expect(meta.sites).toEqual(['site-1']);
    } finally {
      await silent.close();
    }
  });
});
