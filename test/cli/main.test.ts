import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommandEntry, CommandModule } from '../../src/cli/commands/index.js';
import { commands } from '../../src/cli/commands/index.js';
import { cliIo, main } from '../../src/cli/main.js';
import { formatNumber, metricsTable } from '../../src/cli/output.js';
import { captureIo as capture } from './capture.js';

describe('vflare simulate', () => {
  it('runs hello-stats end to end, prints the workspace and a rounded table', async () => {
    const workspace = join(mkdtempSync(join(tmpdir(), 'cli-')), 'ws');
    const io = capture();
    const code = await main(
      ['simulate', 'examples/hello-stats', '--workspace', workspace, '--seed', '3'],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    expect(io.stdout()).toContain(`workspace: ${workspace}`);
    expect(io.stdout()).toContain('job hello-stats: completed');
    expect(io.stdout()).toMatch(/mean_radius\s+569\s+14\.1273\s+3\.52405/);
    const summary = JSON.parse(readFileSync(join(workspace, 'summary.json'), 'utf8'));
    expect(summary.server.metrics['mean_radius.mean']).toBe(14.127291739894552);
    expect(Object.keys(summary.sites)).toEqual(['site-1', 'site-2', 'site-3']);
    expect(existsSync(join(workspace, 'site-1'))).toBe(true);
  });

  it('answers bad input with a clear message, exit code 1 and no stack', async () => {
    const cases: [string[], RegExp][] = [
      [['simulate', '/nonexistent/job'], /^error: job folder \/nonexistent\/job does not exist/],
      [
        ['simulate', 'examples/hello-stats', '--seed', '-1'],
        /^error: --seed: expected a non-negative integer/,
      ],
      [
        ['simulate', 'examples/hello-stats', '--sites', 'site-1,,'],
        /^error: --sites: expected names/,
      ],
      [
        ['simulate', 'examples/hello-stats', '--sites', 'site-1'],
        /^error: job "hello-stats" needs minClients = 3/,
      ],
      [['simulate', 'examples/hello-stats', '--dead-site-grace', '0'], /^error: --dead-site-grace/],
      [['simulate', 'examples/hello-stats', '--log-level', 'loud'], /^error: --log-level: unknown/],
      [['simulate'], /missing required argument 'jobDir'/],
      [['nope'], /unknown command 'nope'/],
    ];
    for (const [argv, message] of cases) {
      const io = capture();
      expect(await main(argv, io)).toBe(1);
      expect(io.stderr()).toMatch(message);
      expect(io.stderr()).not.toMatch(/\n\s+at /);
    }
  });

  it('prints every problem of an invalid job', async () => {
    const io = capture();
    const dir = mkdtempSync(join(tmpdir(), 'badjob-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'meta.json'),
      JSON.stringify({ name: 'bad', deployMap: { app: ['site-1'] }, minClients: 2 }),
    );
    expect(await main(['simulate', dir], io)).toBe(1);
    expect(io.stderr()).toContain('job "bad" is invalid');
    expect(io.stderr()).toContain('no app is deployed to the server');
    expect(io.stderr()).toContain('minClients (2) is above the number of deployed clients (1)');
    expect(io.stderr()).toContain('app "app" is deployed to clients but has no config/client.json');
  });

  it('reports a malformed or incomplete meta.json with the file named', async () => {
    const { writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'badmeta-'));
    writeFileSync(join(dir, 'meta.json'), '{"name": 3');
    let io = capture();
    expect(await main(['simulate', dir], io)).toBe(1);
    expect(io.stderr()).toMatch(
      /^error: job "[^"]+" is invalid:\n {2}- meta\.json: not valid JSON/,
    );
    writeFileSync(
      join(dir, 'meta.json'),
      '{"name": "x", "deployMap": {"app": ["server", "@ALL"]}}',
    );
    io = capture();
    expect(await main(['simulate', dir], io)).toBe(1);
    expect(io.stderr()).toContain('"@ALL" must be alone');
    expect(io.stderr()).not.toMatch(/\n\s+at /);
  });
});

describe('vflare simulate progress', () => {
  /** A stream that says it is a terminal and keeps what is drawn on it. */
  function terminal(): NodeJS.WritableStream & { drawn: () => string } {
    let text = '';
    const stream = new Writable({
      write(chunk, _enc, done) {
        text += String(chunk);
        done();
      },
    });
    return Object.assign(stream, { isTTY: true, columns: 100, drawn: () => text });
  }

  it('draws a progress bar only when stdout is a terminal, never into the results', async () => {
    for (const isTTY of [true, false]) {
      const io = capture();
      const progress = terminal();
      const workspace = join(mkdtempSync(join(tmpdir(), 'cli-')), 'ws');
      const code = await main(['simulate', 'examples/hello-stats', '--workspace', workspace], {
        ...io,
        isTTY,
        progress,
      });
      expect(code).toBe(0);
      if (isTTY) expect(progress.drawn()).toContain('1/1 | FederatedStatistics');
      else expect(progress.drawn()).toBe('');
      expect(io.stdout()).not.toContain('FederatedStatistics');
    }
  });
});

describe('vflare', () => {
  /** A command table whose modules count their imports. */
  function table(loads: string[]): CommandEntry[] {
    const entry = (name: string, mod: () => CommandModule): CommandEntry => ({
      name,
      summary: `the ${name} command`,
      load: async () => {
        loads.push(name);
        return mod();
      },
    });
    return [
      entry('hello', () => ({
        register: (program) => {
          program.command('hello').action(() => cliIo().out('hello\n'));
        },
      })),
      entry('broken', () => {
        throw new SyntaxError('Unexpected token in broken.js');
      }),
    ];
  }

  it('shows every command and examples in --help, with exit code 0', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    // Summaries may wrap at the terminal width; each command's name starts a line.
    for (const { name } of commands) expect(io.stdout()).toMatch(new RegExp(`\\n {2}${name}\\s`));
    expect(io.stdout()).toContain('vflare simulate examples/hello-stats');
    const version = capture();
    expect(await main(['--version'], version)).toBe(0);
    expect(version.stdout()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('imports only the module of the command that runs', async () => {
    const loads: string[] = [];
    const io = capture();
    expect(await main(['--help'], io, { commands: table(loads) })).toBe(0);
    expect(io.stdout()).toMatch(/broken\s+the broken command/);
    expect(loads).toEqual([]);
    expect(await main(['hello'], capture(), { commands: table(loads) })).toBe(0);
    expect(loads).toEqual(['hello']);
  });

  it('keeps working when one command module fails to import, and says which', async () => {
    const loads: string[] = [];
    const io = capture();
    expect(await main(['broken', '--flag', 'x'], io, { commands: table(loads) })).toBe(1);
    expect(io.stderr()).toMatch(
      /^error: the "broken" command could not be loaded: Unexpected token in broken\.js/,
    );
    expect(io.stderr()).not.toMatch(/\n\s+at /);
    const ok = capture();
    expect(await main(['hello'], ok, { commands: table(loads) })).toBe(0);
    expect(ok.stdout()).toBe('hello\n');
    const help = capture();
    expect(await main(['help', 'hello'], help, { commands: table(loads) })).toBe(0);
    expect(help.stdout()).toContain('Usage: vflare hello');
  });
});

describe('output helpers', () => {
  it('rounds for display only', () => {
    expect(formatNumber(3.524048826212)).toBe('3.52405');
    expect(formatNumber(569)).toBe('569');
    expect(formatNumber(0.0000123456)).toBe('1.23456e-5');
  });

  it('lays out row.column metrics as a matrix and others as a list', () => {
    const t = metricsTable({ 'a.mean': 1, 'a.std': 2, 'b.mean': 3, 'b.std': 4, loss: 0.5 });
    expect(t.split('\n')[0]).toMatch(/^\s+mean\s+std$/);
    expect(t).toMatch(/b\s+3\s+4/);
    expect(t).toMatch(/loss\s+0\.5/);
  });
});
