export { assertSameShape, type Image, image } from './image.js';
export { psnr } from './psnr.js';
export { type RdlvOptions, type RdlvResult, relativeDataLeakage } from './rdlv.js';
export { type SsimOptions, ssim } from './ssim.js';
