import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, writeJsonAtomic } from '@mcm/common';
import {
  FINETUNE_DEFAULTS,
  generateOffers,
  OFFER_DEFAULTS,
  readOfferData,
  runComparison,
  writeOfferData,
  type ComparisonVariant,
  type VariantResult,
} from '@mcm/finetune';
import { CustomerModel, initBackend, type BackendPreference, type ModelConfig } from '@mcm/model';
import { checkpointDir, loadCheckpoint, loadTrainingData } from '@mcm/training';
import { integerAtLeast, nameList, oneOf, positiveNumber } from './option-parsers.ts';
import { readRunConfig, runConfigPath } from './run-files.ts';

interface OffersCommandOptions {
  data: string;
  out: string;
  offers: number;
  seed: number;
}

interface FinetuneCommandOptions {
  run: string;
  data: string;
  out: string;
  variants: string[];
  maxHistory: number;
  headEpochs: number;
  epochs: number;
  budgetMinutes: number;
  seed: number;
  backend: BackendPreference;
}

const VARIANTS: readonly ComparisonVariant[] = ['gbdt', 'frozen', 'end-to-end'];

/** Registers `finetune-offers` (labelled offer data) and `finetune` (the next-action comparison). */
export function registerFinetuneCommands(program: Command): void {
  program
    .command('finetune-offers')
    .description(
      'Generate labelled offers for the customers of an ingested synthetic dataset: 28 incentivised actions and ' +
        "each offer's conversion, drawn from a documented response to the customer's history (docs/finetuning.md).",
    )
    .requiredOption('--data <dir>', 'ingest output of the synthetic generator (datasets/synth.json)')
    .requiredOption('--out <dir>', 'directory for offers.json (actions, counts) and offers.jsonl (one offer per line)')
    .option('--offers <count>', 'offers to generate', integerAtLeast(1), OFFER_DEFAULTS.offers)
    .option('--seed <seed>', 'seed of the offers and responses', integerAtLeast(0), OFFER_DEFAULTS.seed)
    .action(async (options: OffersCommandOptions) => {
      const logger = createLogger('finetune-offers');
      const data = await loadTrainingData(resolve(options.data));
      const offers = await generateOffers(data, { offers: options.offers, seed: options.seed });
      await writeOfferData(resolve(options.out), offers);
      logger.info({ out: resolve(options.out), ...offers.summary.counts, byAction: undefined }, 'offers written');
      process.stdout.write(`${JSON.stringify({ out: resolve(options.out), ...offers.summary.counts })}\n`);
    });

  program
    .command('finetune')
    .description(
      'Predict which of the 28 offered actions a customer converts on, three ways: gradient-boosted trees on aggregate features, ' +
        "the run's frozen encoder with a new head, and the encoder fine-tuned end to end. Prints conversion NDCG@10 on the test customers.",
    )
    .requiredOption('--run <dir>', 'pre-training run of "nx run trainer:train" (its best checkpoint is the encoder)')
    .requiredOption('--data <dir>', 'labelled offers of "nx run trainer:finetune-offers", made from the run\'s ingest output')
    .requiredOption('--out <dir>', 'directory for metrics.json')
    .option('--variants <list>', `variants to run, comma-separated: ${VARIANTS.join(', ')}`, nameList, [...VARIANTS])
    .option('--max-history <events>', 'most recent events before an offer that the MCM variants read', integerAtLeast(1), FINETUNE_DEFAULTS.maxHistory)
    .option('--head-epochs <epochs>', 'epochs of training the new head on frozen embeddings', integerAtLeast(1), FINETUNE_DEFAULTS.headEpochs)
    .option('--epochs <epochs>', 'epochs of end-to-end fine-tuning', integerAtLeast(1), FINETUNE_DEFAULTS.endToEndEpochs)
    .option('--budget-minutes <minutes>', 'wall-clock minutes of end-to-end fine-tuning', positiveNumber, FINETUNE_DEFAULTS.endToEndBudgetMinutes)
    .option('--seed <seed>', 'seed of the head, the trees and the shuffles', integerAtLeast(0), FINETUNE_DEFAULTS.seed)
    .option('--backend <backend>', 'tfjs backend: auto, tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
    .action(async (options: FinetuneCommandOptions) => {
      const results = await runFinetuneCommand(options);
      process.stdout.write(`${formatResults(results)}\n`);
    });
}

/** Runs the comparison of `finetune` and writes `<out>/metrics.json`. */
export async function runFinetuneCommand(options: FinetuneCommandOptions): Promise<VariantResult[]> {
  const unknown = options.variants.filter((variant) => !VARIANTS.includes(variant as ComparisonVariant));
  if (unknown.length > 0) throw new Error(`unknown variant ${unknown.join(', ')}; available: ${VARIANTS.join(', ')}`);

  const logger = createLogger('finetune');
  const runDir = resolve(options.run);
  const backend = await initBackend(options.backend);
  const runConfig = await readRunConfig(runDir);
  if (runConfig.modelConfig === null) throw new Error(`${runConfigPath(runDir)} is a baseline run, which has no encoder to fine-tune`);

  const data = await loadTrainingData(runConfig.data);
  const offers = await readOfferData(resolve(options.data));
  if (offers.summary.manifestFingerprint !== data.manifest.fingerprint) {
    throw new Error(
      `the offers in ${options.data} were made from data with fingerprint ${offers.summary.manifestFingerprint}, but the run trained on ${runConfig.data} ` +
        `(${data.manifest.fingerprint}); generate them with --data ${runConfig.data}`,
    );
  }

  const checkpoint = await loadCheckpoint(checkpointDir(runDir), 'best');
  const model = CustomerModel.create(checkpoint.meta.modelConfig as ModelConfig, options.seed);
  try {
    model.setWeights(checkpoint.weights);
    logger.info({ run: runDir, step: checkpoint.meta.step, backend: backend.name, offers: offers.summary.counts.offers }, 'fine-tuning started');
    const results = await runComparison({
      model,
      data,
      offers,
      logger,
      variants: options.variants as ComparisonVariant[],
      maxHistory: options.maxHistory,
      headEpochs: options.headEpochs,
      endToEndEpochs: options.epochs,
      endToEndBudgetMinutes: options.budgetMinutes,
      seed: options.seed,
    });
    await writeJsonAtomic(resolve(options.out, 'metrics.json'), {
      run: runDir,
      checkpointStep: checkpoint.meta.step,
      offers: resolve(options.data),
      counts: offers.summary.counts,
      options: { ...options, backend: backend.name },
      results,
      createdAt: new Date().toISOString(),
    });
    return results;
  } finally {
    model.dispose();
  }
}

function formatResults(results: readonly VariantResult[]): string {
  const lines = ['| variant | NDCG@10 | Recall@3 | Recall@10 | MRR@10 | test offers | validation NDCG@10 | seconds |', '|---|---|---|---|---|---|---|---|'];
  for (const result of results) {
    const m = result.metrics;
    lines.push(
      `| ${result.variant} | ${m['ndcg@10']!.toFixed(4)} | ${m['recall@3']!.toFixed(4)} | ${m['recall@10']!.toFixed(4)} | ${m['mrr@10']!.toFixed(4)} | ` +
        `${m.examples} | ${result.validationNdcg.toFixed(4)} | ${result.seconds.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}
