import { registerSampler } from './batch-sampler.ts';
import { CAUSAL_SAMPLER, CausalSampler } from './causal-sampler.ts';
import { CLOZE_SAMPLER, ClozeSampler } from './cloze-sampler.ts';
import { LAST_EVENT_SAMPLER, LastEventSampler } from './last-event-sampler.ts';
import { RANDOM_PREFIX_SAMPLER, RandomPrefixSampler } from './random-prefix-sampler.ts';

// The samplers that ship with mcm, one per training objective.
registerSampler(RANDOM_PREFIX_SAMPLER, (data, options) => new RandomPrefixSampler(data, options));
registerSampler(LAST_EVENT_SAMPLER, (data, options) => new LastEventSampler(data, options));
registerSampler(CAUSAL_SAMPLER, (data, options) => new CausalSampler(data, options));
registerSampler(CLOZE_SAMPLER, (data, options) => new ClozeSampler(data, options));
