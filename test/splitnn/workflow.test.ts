import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExecutorContext } from '../../src/runtime/core/executor.js';
import type { TaskData } from '../../src/runtime/core/messages.js';
import { runSimulation } from '../../src/runtime/sim/index.js';
import { type ControllerArgsInput, SplitNNController } from '../../src/splitnn/controller.js';
import { type ExecutorArgsInput, SplitNNExecutor, TASK_ALIGN } from '../../src/splitnn/executor.js';
import { TOPIC_FORWARD } from '../../src/splitnn/messages.js';
import { initBackend } from '../../src/tf/index.js';
import {
  clientApp,
  FixedIntersectionExecutor,
  FixedIntersectionWorkflow,
  serverApp,
  tinyBottom,
  type VerticalData,
  writeVerticalCsvs,
} from './helpers.js';

const SITES = ['fa', 'fb', 'lab'];

function executorArgs(site: string): ExecutorArgsInput {
  const opt = { learningRate: 0.05, momentum: 0.9 };
  if (site === 'lab') {
    return {
      data: { format: 'csv', path: 'lab.csv', labelColumn: 'label', featureColumns: [] },
      top: { inputShape: [8], layers: [{ type: 'dense', units: 2 }] },
      optimizer: opt,
      backend: 'wasm',
    };
  }
  const width = site === 'fa' ? 4 : 3;
  return {
    data: { format: 'csv', path: `${site}.csv` },
    bottom: tinyBottom(width),
    optimizer: opt,
    backend: 'wasm',
  };
}

interface RunOptions {
  readonly data: VerticalData;
  readonly intersections?: Record<string, string[]>;
  readonly controller?: Partial<ControllerArgsInput>;
  readonly makeExecutor?: (site: string) => SplitNNExecutor;
  readonly faults?: Parameters<typeof runSimulation>[0]['faults'];
}

async function run(o: RunOptions) {
  const workspace = mkdtempSync(join(tmpdir(), 'vflare-splitnn-ws-'));
  const summary = await runSimulation({
    job: 'splitnn-test',
    sites: SITES,
    workspace,
    dataRoot: o.data.dir,
    seed: 11,
    heartbeatIntervalMs: 200,
    longPollMs: 200,
    byeTimeoutMs: 1_000,
    ...(o.faults ? { faults: o.faults } : {}),
    server: serverApp([
      new FixedIntersectionWorkflow(SITES),
      new SplitNNController({
        labelParty: 'lab',
        steps: 150,
        batchSize: 16,
        validationFraction: 0.25,
        ...o.controller,
      }),
    ]),
    clients: (env) =>
      clientApp([
        new FixedIntersectionExecutor(o.intersections?.[env.site] ?? o.data.shared),
        o.makeExecutor?.(env.site) ?? new SplitNNExecutor(executorArgs(env.site)),
      ]),
  });
  return { summary, workspace };
}

describe('split learning over the simulator', () => {
  let data: VerticalData;
  beforeAll(async () => {
    await initBackend('wasm');
    data = writeVerticalCsvs();
  });

  it('trains three parties to a useful model and saves each half only at its owner', async () => {
    const { summary, workspace } = await run({ data });
    expect(summary.error).toBeUndefined();
    expect(summary.status).toBe('completed');
    const m = summary.server.metrics;
    expect(m['intersection']).toBe(160);
    expect(m['validation_rows']).toBe(40);
    expect(m['accuracy']).toBeGreaterThan(0.85);
    expect(m['auc']).toBeGreaterThan(0.9);
    expect(summary.sites['fa']?.metrics['steps']).toBe(150);
    expect(readdirSync(join(workspace, 'fa', 'splitnn'))).toEqual(['bottom-half.json']);
    expect(readdirSync(join(workspace, 'lab', 'splitnn'))).toEqual(['top-half.json']);

    // Vertical inference: each party loads only its own half and the label party predicts.
    const half = (site: string) =>
      join(workspace, site, 'splitnn', site === 'lab' ? 'top-half.json' : 'bottom-half.json');
    const predict = await run({
      data,
      controller: { mode: 'predict' },
      makeExecutor: (site) => new SplitNNExecutor({ ...executorArgs(site), model: half(site) }),
    });
    expect(predict.summary.error).toBeUndefined();
    expect(predict.summary.sites['lab']?.metrics['predicted']).toBe(160);
    const lines = readFileSync(join(predict.workspace, 'lab', 'splitnn', 'predictions.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(lines[0]).toBe('id,class,p0,p1');
    const truth = new Map(
      readFileSync(join(data.dir, 'lab.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    );
    const correct = lines.slice(1).filter((l) => {
      const [id, cls] = l.split(',');
      return truth.get(id as string) === cls;
    }).length;
    expect(correct / 160).toBeGreaterThan(0.85);

    const wrong = await run({
      data,
      controller: { mode: 'predict' },
      makeExecutor: (site) =>
        new SplitNNExecutor({ ...executorArgs(site), model: half(site === 'fa' ? 'fb' : site) }),
    });
    expect(wrong.summary.error).toMatch(/half of "fb"; each party loads only its own/);
  });

  it('trains identically when a party stores its rows in another order (rows are found by id)', async () => {
    const a = await run({ data });
    const b = await run({ data: writeVerticalCsvs('fb') });
    expect(b.summary.status).toBe('completed');
    expect(b.summary.server.metrics['validation_loss']).toBeCloseTo(
      a.summary.server.metrics['validation_loss'] as number,
      6,
    );
    expect(b.summary.server.metrics['accuracy']).toBe(a.summary.server.metrics['accuracy']);
  });

  it('stops before training when one party has an extra id in its intersection', async () => {
    const extra = [...data.shared, 'only-fb-1'];
    const { summary, workspace } = await run({ data, intersections: { fb: extra } });
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(/intersections differ/);
    expect(summary.error).toMatch(/fb: 161 ids/);
    expect(existsSync(join(workspace, 'fa', 'splitnn'))).toBe(false);
  });

  it('ends with a shape error when a feature party answers activations of the wrong shape', async () => {
    class WrongShape extends SplitNNExecutor {
      override async execute(task: TaskData, ctx: ExecutorContext) {
        const r = await super.execute(task, ctx);
        if (ctx.taskName === TASK_ALIGN && ctx.site === 'fb') {
          ctx.peers.unregister(TOPIC_FORWARD);
          ctx.peers.register(TOPIC_FORWARD, (req) => ({
            kind: 'splitnn.activations',
            step: (req.payload as { step: number }).step,
            activations: { rows: 16, cols: 3, encoding: 'float32', data: new Float32Array(48) },
            meta: {},
          }));
        }
        return r;
      }
    }
    const { summary } = await run({ data, makeExecutor: (s) => new WrongShape(executorArgs(s)) });
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(/activations from "fb" has shape \[16, 3\].*expected \[16, 4\]/);
  });

  it('ends with a timeout error when a feature party stops answering', async () => {
    const { summary } = await run({
      data,
      controller: { peerTimeoutMs: 400, steps: 100_000 },
      faults: { fa: { kind: 'die', task: 'splitnn.train' } },
    });
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(/"fa" did not answer .* within 400 ms/);
  });
});
