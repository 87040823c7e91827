/**
 * The CLI's commands. A module adds its command as `src/cli/commands/<name>.ts` exporting
 * `register(program: Command): void`, and one line here.
 */

export { register as admin } from './admin.js';
export { register as client } from './client.js';
export { register as poc } from './poc.js';
export { register as leakage } from './leakage.js';
export { register as predict } from './predict.js';
export { register as provision } from './provision.js';
export { register as psi } from './psi.js';
export { register as server } from './server.js';
export { register as simulate } from './simulate.js';
export { register as splitnnPredict } from './splitnn.js';
