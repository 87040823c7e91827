export {
  type Candidate,
  type Decision,
  type Placement,
  place,
  ResourceLedger,
  type Resources,
  Scheduler,
  type SchedulerOptions,
} from './scheduler.js';
