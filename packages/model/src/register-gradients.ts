// tfjs-core's Node bundle (tf-core.node.js, 4.22) registers no gradient functions, and its
// register_all_gradients module ships only as extensionless ES modules that Node cannot
// load. The union package's Node bundle carries the same gradient configs and registers
// them in tfjs's global registry, which the tfjs-core instance here shares.
// NOTE: this also loads tfjs-layers, -converter, -data and -webgl, which mcm does not use
// (about 0.5 s of start-up, and a webgl backend that Node cannot initialise). A Node bundle of
// the gradients alone would remove them.
import '@tensorflow/tfjs';
import { registerSumGradient } from './sum-gradient.ts';

registerSumGradient();
