/** Relative weight of each task's loss in the total that the optimizer minimises. */
export type TaskWeights = Record<string, number>;

/**
 * Parses "category=1,brand=0.5" into task weights. Tasks not named get weight 1, and
 * every named task must be one of `tasks`.
 */
export function parseTaskWeights(text: string | undefined, tasks: readonly string[]): TaskWeights {
  const weights: TaskWeights = Object.fromEntries(tasks.map((task) => [task, 1]));
  if (text === undefined || text.trim() === '') return weights;

  for (const part of text.split(',')) {
    const [name, value, ...rest] = part.split('=').map((piece) => piece.trim());
    const weight = Number(value);
    if (name === undefined || value === undefined || rest.length > 0 || !Number.isFinite(weight) || weight < 0) {
      throw new Error(`invalid task weight "${part}": expected task=weight with a weight >= 0, e.g. category=1,brand=0.5`);
    }
    if (!tasks.includes(name)) throw new Error(`task weight names "${name}", which is not a task; tasks: ${tasks.join(', ')}`);
    weights[name] = weight;
  }

  if (Object.values(weights).every((weight) => weight === 0)) throw new Error('every task weight is 0, so there is nothing to train');
  return weights;
}
