import { Random } from '@mcm/common';

/** Settings of the gradient-boosted trees, each with its reason. */
export const BOOSTING_DEFAULTS = {
  /** Boosting rounds; each adds one tree per action. */
  rounds: 80,
  /** Shrinkage of each tree's leaf values: XGBoost's and LightGBM's usual 0.1. */
  learningRate: 0.1,
  /** Depth 4 captures interactions such as "browsed this product line and never bought in it". */
  maxDepth: 4,
  /** L2 penalty on leaf values (XGBoost's lambda, default 1). */
  lambda: 1,
  /** Smallest sum of second derivatives in a child; XGBoost's min_child_weight, default 1. */
  minChildHessian: 1,
  /** Share of the features each tree may split on, drawn per tree (XGBoost's colsample_bytree). */
  featureShare: 0.5,
  /** Quantile bins per feature (histogram method): bounds the candidate splits, as XGBoost's `hist` and LightGBM do. */
  bins: 32,
} as const;

/** Hyperparameters of BoostedTrees; see BOOSTING_DEFAULTS for what each sets. */
export type BoostingOptions = { [K in keyof typeof BOOSTING_DEFAULTS]: number };

/** One regression tree over binned features: internal nodes split on `bin <= threshold`, leaves hold a value. */
interface Tree {
  feature: Int32Array;
  threshold: Int32Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

/**
 * Multiclass gradient-boosted trees with softmax loss and second-order leaf values, the
 * algorithm of XGBoost (Chen and Guestrin 2016) with its histogram split finding. It
 * ranks the actions by their predicted logits.
 *
 * No maintained gradient-boosting library in pure JavaScript was found on npm.
 * ml-random-forest 2.1 (mljs) was tried: 100 trees on 3,000 rows of 90 features took
 * more than 10 minutes on a 2-core machine. Its tree package scores every distinct
 * value of a feature as a split, with a pass over the rows for each.
 */
export class BoostedTrees {
  private readonly trees: Tree[][] = [];
  private thresholds: number[][] = [];
  private prior = new Float64Array(0);

  constructor(
    private readonly classes: number,
    private readonly seed: number,
    private readonly options: BoostingOptions = BOOSTING_DEFAULTS,
  ) {}

  /** Trains on rows of features and the class (action index) of each row. */
  train(rows: readonly number[][], labels: readonly number[]): void {
    const n = rows.length;
    const k = this.classes;
    this.thresholds = quantileThresholds(rows, this.options.bins);
    const binned = this.binColumns(rows);
    const features = binned.length;
    const random = new Random(this.seed);

    // Start from the log class frequencies, smoothed so an unseen class stays finite.
    const counts = new Float64Array(k).fill(1);
    for (const label of labels) counts[label]!++;
    this.prior = Float64Array.from(counts, (count) => Math.log(count / (n + k)));
    const logits = new Float64Array(n * k);
    for (let i = 0; i < n; i++) logits.set(this.prior, i * k);

    const gradient = new Float64Array(n);
    const hessian = new Float64Array(n);
    const probabilities = new Float64Array(n * k);
    const all = Int32Array.from({ length: n }, (_, i) => i);
    const featureCount = Math.max(1, Math.round(features * this.options.featureShare));

    for (let round = 0; round < this.options.rounds; round++) {
      softmaxRows(logits, probabilities, n, k);
      const roundTrees: Tree[] = [];
      for (let c = 0; c < k; c++) {
        for (let i = 0; i < n; i++) {
          const p = probabilities[i * k + c]!;
          gradient[i] = p - (labels[i] === c ? 1 : 0);
          hessian[i] = Math.max(p * (1 - p), 1e-6);
        }
        const chosen = random.shuffle(Array.from({ length: features }, (_, f) => f)).slice(0, featureCount);
        const tree = this.buildTree(binned, gradient, hessian, all, chosen);
        roundTrees.push(tree);
        for (let i = 0; i < n; i++) logits[i * k + c]! += predictTree(tree, (f) => binned[f]![i]!);
      }
      this.trees.push(roundTrees);
    }
  }

  /** Returns row-major [rows.length, classes] logits. */
  scores(rows: readonly number[][]): Float32Array {
    const k = this.classes;
    const out = new Float32Array(rows.length * k);
    rows.forEach((row, r) => {
      const bins = row.map((value, column) => binOf(this.thresholds[column]!, value));
      for (let c = 0; c < k; c++) {
        let logit = this.prior[c]!;
        for (const roundTrees of this.trees) logit += predictTree(roundTrees[c]!, (f) => bins[f]!);
        out[r * k + c] = logit;
      }
    });
    return out;
  }

  private binColumns(rows: readonly number[][]): Uint8Array[] {
    const columns = this.thresholds.length;
    return Array.from({ length: columns }, (_, column) => Uint8Array.from(rows, (row) => binOf(this.thresholds[column]!, row[column]!)));
  }

  /** Grows one tree depth-first, splitting where the second-order gain is largest. */
  private buildTree(binned: readonly Uint8Array[], gradient: Float64Array, hessian: Float64Array, rows: Int32Array, features: readonly number[]): Tree {
    const { lambda, minChildHessian, maxDepth, learningRate, bins } = this.options;
    const nodes = { feature: [] as number[], threshold: [] as number[], left: [] as number[], right: [] as number[], value: [] as number[] };
    const histogramG = new Float64Array(bins);
    const histogramH = new Float64Array(bins);

    const grow = (members: Int32Array, depth: number): number => {
      const id = nodes.value.length;
      let g = 0;
      let h = 0;
      for (let m = 0; m < members.length; m++) {
        g += gradient[members[m]!]!;
        h += hessian[members[m]!]!;
      }
      nodes.feature.push(-1);
      nodes.threshold.push(0);
      nodes.left.push(-1);
      nodes.right.push(-1);
      nodes.value.push((-g / (h + lambda)) * learningRate);
      if (depth >= maxDepth || members.length < 2) return id;

      const parentScore = (g * g) / (h + lambda);
      let best = { gain: 1e-9, feature: -1, threshold: 0 };
      for (const f of features) {
        histogramG.fill(0);
        histogramH.fill(0);
        const column = binned[f]!;
        for (let m = 0; m < members.length; m++) {
          const i = members[m]!;
          histogramG[column[i]!]! += gradient[i]!;
          histogramH[column[i]!]! += hessian[i]!;
        }
        let leftG = 0;
        let leftH = 0;
        for (let b = 0; b < bins - 1; b++) {
          leftG += histogramG[b]!;
          leftH += histogramH[b]!;
          const rightH = h - leftH;
          if (leftH < minChildHessian || rightH < minChildHessian) continue;
          const rightG = g - leftG;
          const gain = (leftG * leftG) / (leftH + lambda) + (rightG * rightG) / (rightH + lambda) - parentScore;
          if (gain > best.gain) best = { gain, feature: f, threshold: b };
        }
      }
      if (best.feature < 0) return id;

      const column = binned[best.feature]!;
      const leftMembers = members.filter((i) => column[i]! <= best.threshold);
      const rightMembers = members.filter((i) => column[i]! > best.threshold);
      nodes.feature[id] = best.feature;
      nodes.threshold[id] = best.threshold;
      nodes.left[id] = grow(leftMembers, depth + 1);
      nodes.right[id] = grow(rightMembers, depth + 1);
      return id;
    };

    grow(rows, 0);
    return {
      feature: Int32Array.from(nodes.feature),
      threshold: Int32Array.from(nodes.threshold),
      left: Int32Array.from(nodes.left),
      right: Int32Array.from(nodes.right),
      value: Float64Array.from(nodes.value),
    };
  }
}

function predictTree(tree: Tree, binOfFeature: (feature: number) => number): number {
  let node = 0;
  while (tree.feature[node]! >= 0) node = binOfFeature(tree.feature[node]!) <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  return tree.value[node]!;
}

function softmaxRows(logits: Float64Array, out: Float64Array, rows: number, k: number): void {
  for (let i = 0; i < rows; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[i * k + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp(logits[i * k + c]! - max);
      out[i * k + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) out[i * k + c]! /= sum;
  }
}

/** Returns the number of thresholds at or below `value`: its bin, 0 to thresholds.length. */
function binOf(thresholds: readonly number[], value: number): number {
  let bin = 0;
  while (bin < thresholds.length && thresholds[bin]! <= value) bin++;
  return bin;
}

/** Returns, per column, the distinct values at the quantiles 1/bins, 2/bins, ... of the rows, above the minimum. */
function quantileThresholds(rows: readonly number[][], bins: number): number[][] {
  const columns = rows[0]?.length ?? 0;
  const thresholds: number[][] = [];
  for (let column = 0; column < columns; column++) {
    const sorted = rows.map((row) => row[column]!).sort((a, b) => a - b);
    const cuts = new Set<number>();
    for (let b = 1; b < bins; b++) cuts.add(sorted[Math.floor((b * sorted.length) / bins)]!);
    cuts.delete(sorted[0]!);
    thresholds.push([...cuts].sort((a, b) => a - b));
  }
  return thresholds;
}
