/**
 * The CLI's commands. A module adds its command as `src/cli/commands/<name>.ts` exporting
 * `register(program: Command): void`, and one line here: the command's name as typed, a one-line
 * summary for `vflare --help`, and the import.
 *
 * Modules are imported only when their command runs (or `vflare help <name>` asks for it): the
 * heavy ones pull in TensorFlow.js, gRPC or WebAssembly, and a module that fails to import
 * breaks its own command only, with a clear message, never the others.
 */
import type { Command } from 'commander';

export interface CommandModule {
  readonly register: (program: Command) => void;
}

export interface CommandEntry {
  /** The top-level command name, as `register` declares it. */
  readonly name: string;
  /** One line for the command list of `vflare --help`. */
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

const cmd = (name: string, summary: string, load: CommandEntry['load']): CommandEntry => ({
  name,
  summary,
  load,
});

export const commands: readonly CommandEntry[] = [
  cmd('simulate', 'run a job with every site in this process', () => import('./simulate.js')),
  cmd('psi', 'private set intersection across sites (simulator)', () => import('./psi.js')),
  cmd('splitnn-predict', 'inference with saved split-NN halves', () => import('./splitnn.js')),
  cmd('predict', 'score a CSV with a saved traditional-ML model', () => import('./predict.js')),
  cmd('leakage', 'gradient-inversion leakage (RDLV) sweeps', () => import('./leakage.js')),
  cmd('provision', 'root CA and startup kits for a federation', () => import('./provision.js')),
  cmd('poc', 'proof-of-concept federation on this machine', () => import('./poc.js')),
  cmd('server', 'the federation server (start)', () => import('./server.js')),
  cmd('client', 'a federation site (start)', () => import('./client.js')),
  cmd('admin', 'administer a federation with an admin kit', () => import('./admin.js')),
];
