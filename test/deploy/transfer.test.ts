/**
 * Job folders and job results larger than one message: `submit_job` and `download_job` move
 * them in chunks, each under the message limit.
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/deploy/admin/session.js';
import { readFolderFiles } from '../../src/deploy/files.js';
import { chunksOf } from '../../src/deploy/grpc/chunks.js';
import { callUnary, makeGrpcClient } from '../../src/deploy/grpc/client.js';
import { linkSettings } from '../../src/deploy/grpc/link.js';
import { encode } from '../../src/deploy/grpc/protocol.js';
import { type ProvisionResult, provision } from '../../src/deploy/provision/index.js';
import { loadKit } from '../../src/deploy/provision/kit.js';
import { ServerProcess } from '../../src/deploy/server/server-process.js';

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
