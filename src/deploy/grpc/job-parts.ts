/**
 * A job folder deployed as a stream of parts (`deploy_part` in `protocol.ts`): the server cuts
 * the folder's files into parts that each fit in one control message, and the site checks each
 * part against what came before and turns it into file writes. Pure: no I/O here, so both sides
 * can be tested without a network or a disk.
 */
import { VflareError } from '../../runtime/core/index.js';
import { type FileEntry, unsafePath } from '../files.js';
import type { DeployPart, FileFragment } from './protocol.js';

/**
 * Bytes of file data in one part at most, whatever the message limit: what a site holds in
 * memory per part it has not yet written.
 */
export const DEPLOY_PART_BYTES = 4 * 1024 * 1024;
/**
 * Parts the server sends ahead of the site's acknowledgements. The site refuses a deploy that
 * runs further ahead, so it holds at most this many parts per deploy in memory.
 */
export const DEPLOY_WINDOW = 3;
/** Room for a part's own fields (type, ids up to 256 bytes each, numbers, msgpack framing). */
const PART_ENVELOPE_BYTES = 1024;
/** Room for a fragment's fields besides its path and data (keys, numbers, framing). */
const FRAGMENT_ENVELOPE_BYTES = 64;
/** A part with less room than this left is closed, rather than carrying a sliver of a file. */
const MIN_FRAGMENT_BYTES = 1024;

/**
 * Cuts a job folder into deploy parts, each of which encodes to at most `maxMessageBytes`.
 * Fragments are views of the files' bytes (no copy). Throws `MESSAGE_TOO_BIG` when the limit is
 * too small for a part to carry even one file's path.
 */
export function deployPartsOf(
  jobId: string,
  jobName: string,
  files: readonly FileEntry[],
  maxMessageBytes: number,
): DeployPart[] {
  if (files.length === 0) {
    throw new VflareError('INVALID_JOB', `job ${jobId} has no files to deploy`);
  }
  const room = Math.min(DEPLOY_PART_BYTES, maxMessageBytes - PART_ENVELOPE_BYTES);
  const groups: FileFragment[][] = [];
  let fragments: FileFragment[] = [];
  let used = 0;
  let totalBytes = 0;
  const close = () => {
    groups.push(fragments);
    fragments = [];
    used = 0;
  };
  for (const file of files) {
    const size = file.data.byteLength;
    totalBytes += size;
    const overhead = Buffer.byteLength(file.path) + FRAGMENT_ENVELOPE_BYTES;
    let offset = 0;
    do {
      const free = room - used - overhead;
      const wanted = size - offset;
      if (free < Math.min(wanted, MIN_FRAGMENT_BYTES) || free <= 0) {
        if (fragments.length === 0) {
          throw new VflareError(
            'MESSAGE_TOO_BIG',
            `cannot deploy job ${jobId}: transport.maxMessageBytes (${maxMessageBytes} bytes) ` +
              'leaves no room for a part carrying one of its files; raise it in the kits',
          );
        }
        close();
        continue;
      }
      const n = Math.min(free, wanted);
      fragments.push({
        path: file.path,
        size,
        offset,
        // A view, not a copy; zod's bytes type only narrows the buffer kind.
        data: file.data.subarray(offset, offset + n) as FileFragment['data'],
      });
      used += overhead + n;
      offset += n;
    } while (offset < size);
  }
  if (fragments.length > 0) close();
  return groups.map((g, seq) => ({
    type: 'deploy_part',
    jobId,
    jobName,
    seq,
    last: seq === groups.length - 1,
    totalBytes,
    fileCount: files.length,
    fragments: g,
  }));
}

/** One write a part asks for: `data` at `offset` of the file (`offset` 0 creates it). */
export interface FragmentWrite {
  readonly path: string;
  readonly offset: number;
  readonly data: Uint8Array;
}

/**
 * A site's view of one deploy in progress: checks each part (order, unchanged totals, every
 * file's fragments contiguous and within its size, safe paths, nothing beyond the announced
 * totals) and says what to write. Any problem throws a `PROTOCOL_ERROR` naming it (never file
 * contents); the deploy is then over.
 */
export class JobPartReceiver {
  readonly jobId: string;
  readonly jobName: string;
  readonly totalBytes: number;
  readonly fileCount: number;
  #nextSeq = 0;
  #received = 0;
  #files = 0;
  #current: { path: string; size: number; written: number } | undefined;
  readonly #seen = new Set<string>();
  #complete = false;

  /** Starts from the first part's announcement; refuses a job over `maxJobBytes`. */
  constructor(first: DeployPart, maxJobBytes: number) {
    this.jobId = first.jobId;
    this.jobName = first.jobName;
    this.totalBytes = first.totalBytes;
    this.fileCount = first.fileCount;
    if (first.seq !== 0) {
      throw bad(`part ${first.seq} arrived before the job's first part`);
    }
    if (first.totalBytes > maxJobBytes) {
      throw new VflareError(
        'MESSAGE_TOO_BIG',
        `the job's files total ${first.totalBytes} bytes, more than the ${maxJobBytes} bytes ` +
          "of this site's transport.maxJobBytes",
      );
    }
  }

  /** Bytes of file data accepted so far. */
  get receivedBytes(): number {
    return this.#received;
  }

  /** True once the last part was accepted and every file is whole. */
  get complete(): boolean {
    return this.#complete;
  }

  accept(part: DeployPart): FragmentWrite[] {
    if (this.#complete) throw bad(`part ${part.seq} arrived after the last part`);
    if (part.seq !== this.#nextSeq) {
      throw bad(`part ${part.seq} arrived where part ${this.#nextSeq} was expected`);
    }
    if (
      part.jobName !== this.jobName ||
      part.totalBytes !== this.totalBytes ||
      part.fileCount !== this.fileCount
    ) {
      throw bad(`part ${part.seq} changed the job's name, size or file count`);
    }
    if (part.fragments.length === 0) throw bad(`part ${part.seq} carries no file data`);
    this.#nextSeq++;
    const writes: FragmentWrite[] = [];
    for (const f of part.fragments) {
      const cur = this.#current;
      if (cur !== undefined && cur.path === f.path) {
        if (f.offset !== cur.written || f.size !== cur.size) {
          throw bad(
            `file "${short(f.path)}" continues at byte ${f.offset} (size ${f.size}) ` +
              `where byte ${cur.written} (size ${cur.size}) was expected`,
          );
        }
      } else {
        if (cur !== undefined && cur.written !== cur.size) {
          throw bad(`file "${short(cur.path)}" ended at ${cur.written} of ${cur.size} bytes`);
        }
        const problem = unsafePath(f.path);
        if (problem !== null) throw bad(`file path "${short(f.path)}" ${problem}`);
        if (this.#seen.has(f.path)) throw bad(`file "${short(f.path)}" sent twice`);
        if (f.offset !== 0) {
          throw bad(`file "${short(f.path)}" starts at byte ${f.offset} instead of 0`);
        }
        if (this.#files >= this.fileCount) {
          throw bad(`more files than the ${this.fileCount} announced`);
        }
        this.#seen.add(f.path);
        this.#files++;
        this.#current = { path: f.path, size: f.size, written: 0 };
      }
      const file = this.#current!;
      const n = f.data.byteLength;
      if (f.offset + n > f.size) {
        throw bad(`file "${short(f.path)}" overruns its size of ${f.size} bytes`);
      }
      if (this.#received + n > this.totalBytes) {
        throw bad(`more file data than the ${this.totalBytes} bytes announced`);
      }
      file.written += n;
      this.#received += n;
      writes.push({ path: f.path, offset: f.offset, data: f.data });
    }
    if (part.last) {
      const cur = this.#current;
      if (cur !== undefined && cur.written !== cur.size) {
        throw bad(`file "${short(cur.path)}" ended at ${cur.written} of ${cur.size} bytes`);
      }
      if (this.#files !== this.fileCount || this.#received !== this.totalBytes) {
        throw bad(
          `the last part came after ${this.#files} of ${this.fileCount} files and ` +
            `${this.#received} of ${this.totalBytes} bytes`,
        );
      }
      this.#complete = true;
    }
    return writes;
  }
}

function short(path: string): string {
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

function bad(reason: string): VflareError {
  return new VflareError('PROTOCOL_ERROR', `malformed job deploy: ${reason}`);
}
