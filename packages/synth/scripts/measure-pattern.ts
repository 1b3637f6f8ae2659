/**
 * Prints the planted pattern's predicted and measured numbers, and two model-free
 * next-subcategory baselines, for one generator output:
 *   npx tsx packages/synth/scripts/measure-pattern.ts <generator output dir>
 * It reads every event into memory, so use it on samples (up to a few hundred thousand customers).
 */
import { measureNextSubcategoryBaselines, measurePlantedPattern, readCustomerSequences, readGeneratorOutput } from '@mcm/synth';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: npx tsx packages/synth/scripts/measure-pattern.ts <generator output dir>');
  process.exit(2);
}

const { summary, catalog } = await readGeneratorOutput(dir);
const sequences = await readCustomerSequences(dir, catalog);
const measured = measurePlantedPattern(sequences, catalog);
const baselines = measureNextSubcategoryBaselines(sequences, catalog);
console.log(JSON.stringify({ customers: sequences.length, predicted: summary.prediction, measured, baselines }, null, 2));
