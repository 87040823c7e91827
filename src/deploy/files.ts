/**
 * Folders as lists of files, to ship a job (or its results) over the network. Writing checks every
 * path: a party never writes outside the target folder, whatever the sender claims.
 */
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, posix, resolve, sep } from 'node:path';
import { VflareError } from '../runtime/core/index.js';
import type { JobFile } from './grpc/protocol.js';

/** Every regular file under `dir`, with `/`-separated relative paths; links are refused. */
export async function readFolderFiles(dir: string): Promise<JobFile[]> {
  const out: JobFile[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const name of (await readdir(abs)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(abs, name));
      if (st.isDirectory()) await walk(join(abs, name), path);
      else if (st.isFile()) out.push({ path, data: await readFile(join(abs, name)) });
      else throw new VflareError('INVALID_JOB', `${path}: links and special files are not allowed`);
    }
  };
  await walk(dir, '');
  return out;
}

/** Why `path` is not a safe relative file path, or null. */
export function unsafePath(path: string): string | null {
  if (path.includes('\\') || path.includes('\0')) return 'contains a backslash or NUL';
  if (path.startsWith('/')) return 'is absolute';
  const norm = posix.normalize(path);
  if (norm !== path || norm === '.' || norm.split('/').some((p) => p === '..' || p === '')) {
    return 'is not a normalised relative path';
  }
  return null;
}

export interface FileEntry {
  readonly path: string;
  readonly data: Uint8Array;
}

/**
 * Where `path` (relative, `/`-separated, as a sender claims it) lands under `root`; refuses any
 * path that is not normalised or would leave `root`.
 */
export function safeTarget(root: string, path: string): string {
  const base = resolve(root);
  const problem = unsafePath(path);
  const target = resolve(base, path);
  if (problem !== null || !target.startsWith(base + sep)) {
    throw new VflareError(
      'INVALID_JOB',
      `refused file path "${path.slice(0, 200)}": ${problem ?? 'leaves the job folder'}`,
    );
  }
  return target;
}

/** Writes `files` under `dir` (created); refuses any path that would leave it. */
export async function writeFolderFiles(dir: string, files: readonly FileEntry[]): Promise<void> {
  const root = resolve(dir);
  // Every path is checked before anything is written.
  const targets = files.map((f) => safeTarget(root, f.path));
  await mkdir(root, { recursive: true });
  for (const [i, f] of files.entries()) {
    const target = targets[i]!;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, f.data);
  }
}
