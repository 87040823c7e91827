/** Test-only components and job folders for the deployment tests. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defaultRegistry } from '../../src/components.js';
import {
  defineComponent,
  type Executor,
  type Filter,
  tensor,
} from '../../src/runtime/core/index.js';
import type { ComponentRegistry } from '../../src/runtime/jobs/index.js';

export const trainCalls: { site: string; round: number }[] = [];
export const hooks: { onTrain?: (site: string, round: number) => void } = {};

/** A trainer that answers `train` with fixed weights after a delay (honouring aborts). */
const slowTrainer = defineComponent({
  type: 'test.SlowTrainer',
  args: z.strictObject({ delayMs: z.number().int().nonnegative().default(100) }),
  create: (args): Executor => ({
    tasks: ['train'],
    async execute(_task, ctx) {
      trainCalls.push({ site: ctx.site, round: ctx.round ?? -1 });
      hooks.onTrain?.(ctx.site, ctx.round ?? -1);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, args.delayMs);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
      return {
        kind: 'weights',
        weights: { w: tensor(new Float32Array([1, 2])) },
        meta: { numStepsCurrentRound: 1 },
      };
    },
  }),
});

export const filterCalls: { site: string; point: string; task: string }[] = [];

/** A filter that records where it ran and passes the payload through. */
const recordingFilter = defineComponent({
  type: 'test.RecordingFilter',
  args: z.strictObject({}),
  create: (): Filter => ({
    name: 'recording',
    process(payload, ctx) {
      filterCalls.push({ site: ctx.site, point: ctx.point, task: ctx.taskName });
      return payload;
    },
  }),
});

export function testRegistry(): ComponentRegistry {
  const registry = defaultRegistry();
  registry.register(slowTrainer);
  registry.register(recordingFilter);
  return registry;
}

/** A ScatterAndGather job over the given sites with the slow trainer. */
export async function writeSagJob(
  dir: string,
  opts: { name: string; sites: string[]; minClients: number; rounds: number; delayMs: number },
): Promise<string> {
  await mkdir(join(dir, 'app', 'config'), { recursive: true });
  await writeFile(
    join(dir, 'meta.json'),
    JSON.stringify({
      name: opts.name,
      deployMap: { app: ['server', ...opts.sites] },
      minClients: opts.minClients,
    }),
  );
  await writeFile(
    join(dir, 'app', 'config', 'server.json'),
    JSON.stringify({
      components: [
        { id: 'agg', type: 'WeightedFedAvgAggregator', args: { expectedKind: 'weights' } },
        { id: 'store', type: 'FileModelPersistor', args: {} },
      ],
      workflows: [
        {
          type: 'ScatterAndGather',
          args: {
            aggregator: 'agg',
            persistor: 'store',
            minClients: opts.minClients,
            numRounds: opts.rounds,
            allowEmptyGlobalWeights: true,
            waitTimeAfterMinReceived: 0.2,
          },
        },
      ],
    }),
  );
  await writeFile(
    join(dir, 'app', 'config', 'client.json'),
    JSON.stringify({
      executors: [{ executor: { type: 'test.SlowTrainer', args: { delayMs: opts.delayMs } } }],
    }),
  );
  return dir;
}
