/**
 * Resuming a job after a server restart. A ScatterAndGather workflow with a `FileModelPersistor`
 * saves the global model and its round (atomically) in the server's job workspace; when the job
 * is scheduled again, the workflow starts at the round after the saved one, from the saved model,
 * instead of from round 0.
 *
 * Only the in-memory configuration is changed (the signed job folder stays as submitted): the
 * workflow's `startRound`, and the persistor's `initialModel` pointing at a copy of the saved
 * file under the server's data root (data paths may not leave the data root), in
 * `.vflare-resume/<job id>/`.
 */
import { access, copyFile, mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Job } from '../../runtime/jobs/index.js';
import { loadModelFile } from '../../runtime/workflows/index.js';

export interface ResumePoint {
  readonly round: number;
  readonly modelPath: string;
}

type Spec = { id?: string | undefined; type: string; args: Record<string, unknown> };

/**
 * Returns the job with its ScatterAndGather resuming after the last saved round, and that
 * point; or the job unchanged and null when nothing was saved.
 */
export async function resumeJob(
  job: Job,
  app: string,
  serverWorkspace: string,
  dataRoot: string,
  jobId: string,
): Promise<{ job: Job; resume: ResumePoint | null }> {
  const server = job.apps[app]?.server;
  if (server === undefined) return { job, resume: null };
  const cfg = structuredClone(server) as unknown as {
    components: Spec[];
    workflows: Spec[];
  };
  for (const wf of cfg.workflows) {
    if (wf.type !== 'ScatterAndGather' || typeof wf.args['persistor'] !== 'string') continue;
    const persistor = cfg.components.find((c) => c.id === wf.args['persistor']);
    if (persistor?.type !== 'FileModelPersistor') continue;
    const fileName = (persistor.args['fileName'] as string | undefined) ?? 'global_model.vfm';
    const modelPath = isAbsolute(fileName) ? fileName : join(serverWorkspace, fileName);
    try {
      await access(modelPath);
    } catch {
      continue;
    }
    const saved = await loadModelFile(modelPath);
    if (saved.round === null) continue;
    wf.args['startRound'] = saved.round + 1;
    const rel = join('.vflare-resume', jobId, 'global_model.vfm');
    await mkdir(join(dataRoot, '.vflare-resume', jobId), { recursive: true });
    await copyFile(modelPath, join(dataRoot, rel));
    persistor.args['initialModel'] = rel;
    const apps = { ...job.apps, [app]: { ...job.apps[app], server: cfg } };
    return {
      job: { ...job, apps } as unknown as Job,
      resume: { round: saved.round, modelPath },
    };
  }
  return { job, resume: null };
}
