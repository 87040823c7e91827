/**
 * The filter gradient of a 2-D convolution (`Conv2DBackpropFilter`) for the wasm backend, which
 * ships the forward convolution and the input gradient but not this kernel, so `tf.conv2d`
 * cannot be trained on wasm without it.
 *
 * Method: im2col. For NHWC input x [N, H, W, C], output gradient dy [N, OH, OW, K] and filter
 * [FH, FW, C, K], build the transposed patch matrix Pᵀ [FH·FW·C, N·OH·OW] (column r = the
 * receptive field of output pixel r, zero where it falls into padding) in JS over the wasm heap,
 * then dW = Pᵀ · dy₂ with the backend's own (XNNPACK, SIMD) matrix product. Pᵀ is built
 * directly because the wasm matMul with a transposed operand is several times slower. The
 * [FH·FW·C, K] result is already the filter's row-major layout.
 */
import * as tf from '@tensorflow/tfjs';

/** The subset of the wasm backend's class this kernel touches. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

interface BackpropFilterAttrs {
  readonly strides: [number, number] | number;
  readonly pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  readonly dataFormat: 'NHWC' | 'NCHW';
  readonly dimRoundingMode?: 'floor' | 'round' | 'ceil';
  readonly filterShape: [number, number, number, number];
}

/** Fills `out` (rows = (fh, fw, c), columns = output pixels) from the NHWC input `x`. */
export function im2colTransposed(
  x: Float32Array,
  info: tf.backend_util.Conv2DInfo,
  out: Float32Array,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const cols = batchSize * outHeight * outWidth;
  const plane = outHeight * outWidth;
  for (let fh = 0; fh < filterHeight; fh++) {
    for (let fw = 0; fw < filterWidth; fw++) {
      for (let c = 0; c < inChannels; c++) {
        const row = ((fh * filterWidth + fw) * inChannels + c) * cols;
        for (let b = 0; b < batchSize; b++) {
          const xb = b * inHeight * inWidth * inChannels + c;
          let o = row + b * plane;
          for (let oh = 0; oh < outHeight; oh++) {
            const ih = oh * strideHeight - top + fh * dilationHeight;
            if (ih < 0 || ih >= inHeight) {
              out.fill(0, o, o + outWidth);
              o += outWidth;
              continue;
            }
            const xr = xb + ih * inWidth * inChannels;
            for (let ow = 0; ow < outWidth; ow++, o++) {
              const iw = ow * strideWidth - left + fw * dilationWidth;
              out[o] = iw >= 0 && iw < inWidth ? (x[xr + iw * inChannels] as number) : 0;
            }
          }
        }
      }
    }
  }
}

function conv2dBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs['x'] as tf.TensorInfo;
  const dy = args.inputs['dy'] as tf.TensorInfo;
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') {
    throw new Error('Conv2DBackpropFilter (vflare wasm kernel): only NHWC data is supported');
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error('Conv2DBackpropFilter (vflare wasm kernel): float32 tensors only');
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const cols = info.filterHeight * info.filterWidth * info.inChannels;
  const patches = backend.makeOutput([1, cols, rows], 'float32');
  // Views are taken after the allocation: growing the wasm heap detaches older views.
  im2colTransposed(backend.typedArrayFromHeap(x), info, backend.typedArrayFromHeap(patches));
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  if (matMul === undefined) {
    backend.disposeData(patches.dataId);
    throw new Error('Conv2DBackpropFilter (vflare wasm kernel): BatchMatMul kernel missing');
  }
  const dy3: tf.TensorInfo = {
    dataId: dy.dataId,
    shape: [1, rows, info.outChannels],
    dtype: 'float32',
  };
  try {
    const out = matMul.kernelFunc({
      inputs: { a: patches, b: dy3 },
      backend: args.backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    return { dataId: out.dataId, dtype: out.dtype, shape: [...attrs.filterShape] };
  } finally {
    backend.disposeData(patches.dataId);
  }
}

/** Registers the kernel for the wasm backend once; a later TF.js that ships one keeps its own. */
export function registerWasmConv2DBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: conv2dBackpropFilterWasm as unknown as tf.KernelFunc,
  });
}
