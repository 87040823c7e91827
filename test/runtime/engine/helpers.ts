/** Small builders shared by the runtime engine, transport and simulator tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  ClientApp,
  ControllerApi,
  Executor,
  ExecutorContext,
  Filter,
  FilterChains,
  Payload,
  ServerApp,
  TaskData,
  Workflow,
} from '../../../src/runtime/core/index.js';

export function tmpWorkspace(prefix = 'vflare-sim-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function weights(values: number[], meta: Payload['meta'] = {}): Payload {
  return {
    kind: 'weights',
    weights: { w: { shape: [values.length], data: Float32Array.from(values) } },
    meta,
  };
}

export function metrics(values: Record<string, number>): Payload {
  return { kind: 'metrics', metrics: values, meta: {} };
}

export function executor(
  tasks: string[],
  run: (task: TaskData, ctx: ExecutorContext) => Promise<Payload | null> | Payload | null,
): Executor {
  return { tasks, execute: async (task, ctx) => run(task, ctx) };
}

export function clientApp(executors: Executor[], filters?: Partial<FilterChains>): ClientApp {
  return {
    executors,
    filters: { taskData: filters?.taskData ?? [], taskResult: filters?.taskResult ?? [] },
  };
}

export function serverApp(
  run: (api: ControllerApi) => Promise<void>,
  filters?: Partial<FilterChains>,
): ServerApp {
  const workflow: Workflow = { name: 'test-workflow', run };
  return {
    workflows: [workflow],
    filters: { taskData: filters?.taskData ?? [], taskResult: filters?.taskResult ?? [] },
  };
}

export function filter(name: string, process: Filter['process']): Filter {
  return { name, process };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
