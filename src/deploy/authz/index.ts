export {
  ADMIN_COMMANDS,
  type AdminCommand,
  type AdminUser,
  authorize,
  type Decision,
  type JobOwner,
} from './authz.js';
