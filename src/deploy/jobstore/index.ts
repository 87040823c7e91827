export {
  FINISHED_STATUSES,
  type FinishedStatus,
  isFinished,
  JOB_STATUSES,
  type JobRecord,
  type JobRequirements,
  type JobRunStatus,
  JobStore,
  type ListOptions,
  type RecordPatch,
} from './store.js';
