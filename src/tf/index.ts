/** Shared TensorFlow.js set-up: backend selection and vflare's extra kernels. */
export {
  type BackendName,
  type BackendPreference,
  currentBackend,
  type InitBackendOptions,
  initBackend,
  quietTfjs,
} from './backend.js';
export { im2colTransposed, registerWasmConv2DBackpropFilter } from './conv2d-backprop-filter.js';
