/**
 * Role-based authorisation of admin commands. The role and organisation come from the admin's
 * provisioned certificate (OU and O), never from the request.
 *
 * The policy follows the defaults NVFlare 2.3 ships in its `authorization.json`, in typed form:
 * - `project-admin`: every command on every job, and system commands (shutdown).
 * - `org-admin`: views everything; manages (abort, delete) and downloads jobs submitted by
 *   members of its own organisation; cannot submit or clone.
 * - `lead`: views everything; submits jobs; clones, manages and downloads its own jobs.
 * - `member`: views only.
 */
import type { AdminRole } from '../provision/pki.js';

export const ADMIN_COMMANDS = [
  'submit_job',
  'list_jobs',
  'get_job_meta',
  'abort_job',
  'clone_job',
  'delete_job',
  'download_job',
  'check_status',
  'shutdown',
] as const;
export type AdminCommand = (typeof ADMIN_COMMANDS)[number];

export interface AdminUser {
  readonly name: string;
  readonly org: string;
  readonly role: AdminRole;
}

export interface JobOwner {
  readonly name: string;
  readonly org: string;
}

export type Decision = { readonly ok: true } | { readonly ok: false; readonly reason: string };

type Scope = 'any' | 'own-org' | 'own' | 'none';
type Right = 'view' | 'submit' | 'clone' | 'manage' | 'download' | 'system';

const POLICY: Readonly<Record<AdminRole, Readonly<Record<Right, Scope>>>> = {
  'project-admin': {
    view: 'any',
    submit: 'any',
    clone: 'any',
    manage: 'any',
    download: 'any',
    system: 'any',
  },
  'org-admin': {
    view: 'any',
    submit: 'none',
    clone: 'none',
    manage: 'own-org',
    download: 'own-org',
    system: 'none',
  },
  lead: {
    view: 'any',
    submit: 'any',
    clone: 'own',
    manage: 'own',
    download: 'own',
    system: 'none',
  },
  member: {
    view: 'any',
    submit: 'none',
    clone: 'none',
    manage: 'none',
    download: 'none',
    system: 'none',
  },
};

const RIGHT_OF: Readonly<Record<AdminCommand, Right>> = {
  submit_job: 'submit',
  list_jobs: 'view',
  get_job_meta: 'view',
  check_status: 'view',
  abort_job: 'manage',
  delete_job: 'manage',
  clone_job: 'clone',
  download_job: 'download',
  shutdown: 'system',
};

/** May `user` run `command` (on the job submitted by `owner`, for job commands)? */
export function authorize(user: AdminUser, command: AdminCommand, owner?: JobOwner): Decision {
  const scope = POLICY[user.role][RIGHT_OF[command]];
  const who = `${user.name} (${user.role}, org ${user.org})`;
  switch (scope) {
    case 'any':
      return { ok: true };
    case 'none':
      return { ok: false, reason: `${who} may not run ${command}: the ${user.role} role lacks it` };
    case 'own-org':
      if (owner !== undefined && owner.org === user.org) return { ok: true };
      return {
        ok: false,
        reason: `${who} may run ${command} only on jobs submitted by members of org ${user.org}`,
      };
    case 'own':
      if (owner !== undefined && owner.name === user.name && owner.org === user.org) {
        return { ok: true };
      }
      return { ok: false, reason: `${who} may run ${command} only on jobs it submitted` };
  }
}
