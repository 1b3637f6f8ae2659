export { AliasTable, zipfWeights } from './alias-table.ts';
export { buildCatalog, categoryPath, type Catalog, type ComplementSet, type ItemPool } from './catalog.ts';
export { CustomerSimulator } from './customer-simulator.ts';
export { EventBuffer } from './event-buffer.ts';
export { EVENT_TYPES, type EventTypeName } from './event-types.ts';
export {
  generate,
  CATALOG_FILE,
  CATALOG_HEADER,
  EVENTS_FILE_PATTERN,
  EVENTS_HEADER,
  OUTPUT_FORMAT_VERSION,
  SUMMARY_FILE,
  type EventsFileSummary,
  type GenerateOptions,
  type GeneratorSummary,
} from './generate.ts';
export {
  defaultParameters,
  resolveParameters,
  MAX_EVENTS_PER_FILE,
  PARAMETER_SPECS,
  type ParameterName,
  type ParameterSpec,
  type SynthParameters,
} from './parameters.ts';
export { expectedSessions, predictPlantedPattern, NDCG_K, type PlantedPatternPrediction } from './prediction.ts';
export { createStreamRandom, STREAM_CATALOG, STREAM_CUSTOMER } from './seeds.ts';
export { COMPLEMENT_RULES, CONSUMABLE_RULES, TAXONOMY, type ComplementRule, type ConsumableRule, type TaxonomyNode } from './taxonomy.ts';
export {
  measureNextSubcategoryBaselines,
  measurePlantedPattern,
  type NextSubcategoryBaselines,
  type PlantedPatternMeasurement,
} from './pattern-measurement.ts';
export { readCustomerSequences, readGeneratorOutput, type CustomerSequence } from './read-output.ts';
