import { registerSampler } from './batch-sampler.ts';
import { RANDOM_PREFIX_SAMPLER, RandomPrefixSampler } from './random-prefix-sampler.ts';

// The samplers that ship with mcm. A Cloze (masked-event) or causal sampler registers
// here under its own name once a model variant needs it.
registerSampler(RANDOM_PREFIX_SAMPLER, (data, options) => new RandomPrefixSampler(data, options));
