/** SVM models as tensor maps (what travels in `weights` payloads) and back. */
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import { need } from '../learner/learner.js';
import type { SvmKernel, SvmModel } from './svm.js';

const KERNELS: readonly SvmKernel[] = ['rbf', 'linear'];

/** A client's round-0 contribution: its support vectors and their labels (raw rows!). */
export function supportTensors(m: SvmModel): TensorMap {
  const n = m.coef.length;
  return {
    supportX: { shape: [n, m.cols], data: m.supportX.slice() },
    supportY: { shape: [n], data: m.supportY.slice() },
  };
}

export function readSupport(map: TensorMap, who: string) {
  const x = need(map, 'supportX', who);
  const y = need(map, 'supportY', who);
  const n = y.data.length;
  const cols = x.shape[1] ?? 0;
  if (x.shape.length !== 2 || x.shape[0] !== n || x.data.length !== n * cols || cols < 1) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `${who}: supportX has shape [${x.shape}] but supportY holds ${n} labels`,
    );
  }
  return { x: Float64Array.from(x.data), y: Float64Array.from(y.data), rows: n, cols };
}

/** The whole global model (support set plus coefficients and ρ). */
export function svmToTensors(m: SvmModel): TensorMap {
  return {
    ...supportTensors(m),
    coef: { shape: [m.coef.length], data: m.coef.slice() },
    params: {
      shape: [5],
      data: Float64Array.of(KERNELS.indexOf(m.kernel), m.C, m.gamma, m.rho, m.cols),
    },
    labels: { shape: [2], data: Float64Array.of(m.labels[0], m.labels[1]) },
  };
}

export function tensorsToSvm(map: TensorMap, who = 'svm'): SvmModel {
  const { x, y, cols } = readSupport(map, who);
  const coef = Float64Array.from(need(map, 'coef', who).data);
  const p = need(map, 'params', who).data;
  const labels = need(map, 'labels', who).data;
  const kernel = KERNELS[p[0] as number];
  if (kernel === undefined || coef.length !== y.length || p[4] !== cols || labels.length !== 2) {
    throw new VflareError('PROTOCOL_ERROR', `${who}: the global SVM model is inconsistent`);
  }
  return {
    kernel,
    C: p[1] as number,
    gamma: p[2] as number,
    rho: p[3] as number,
    cols,
    labels: [labels[0] as number, labels[1] as number],
    coef,
    supportX: x,
    supportY: y,
    supportIndices: new Uint32Array(0),
  };
}
