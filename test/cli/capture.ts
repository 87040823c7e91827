import type { Io } from '../../src/cli/output.js';

/** An `Io` for `main(argv, io)` that keeps everything printed, for assertions. */
export function captureIo(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    isTTY: false,
    stdout: () => out,
    stderr: () => err,
  };
}
