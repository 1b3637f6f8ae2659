import type { DatasetConfig, FeatureConfig } from '@mcm/schema';

/** Shape in which a source column is read: text, or a list of values (a multi-valued feature without a delimiter). */
export type ColumnShape = 'text' | 'list';

/** A source column that some feature reads. */
export interface ColumnNeed {
  column: string;
  shape: ColumnShape;
}

/**
 * The columns that the features read, and where each feature finds its input in the
 * ingest's `events` table: `item`, `event_type`, `e_<k>` (the k-th event column) or
 * `c_<k>` (the k-th catalog column).
 */
export interface ColumnPlan {
  eventColumns: ColumnNeed[];
  catalogColumns: ColumnNeed[];
  /** SQL column of each feature's raw input, in feature order. */
  featureInputs: string[];
}

/** Collects the event and catalog columns of the features, each once. */
export function planColumns(config: DatasetConfig): ColumnPlan {
  const eventColumns: ColumnNeed[] = [];
  const catalogColumns: ColumnNeed[] = [];

  const featureInputs = config.features.map((feature) => {
    if (feature.from === 'item') return 'item';
    if (feature.from === 'eventType') return 'event_type';

    const columns = feature.from === 'event' ? eventColumns : catalogColumns;
    const prefix = feature.from === 'event' ? 'e' : 'c';
    const shape = shapeOf(feature);
    const column = feature.column!;
    let position = columns.findIndex((need) => need.column === column);
    if (position < 0) {
      position = columns.length;
      columns.push({ column, shape });
    } else if (columns[position]!.shape !== shape) {
      throw new Error(
        `feature "${feature.name}" reads ${feature.from} column "${column}" as ${shape === 'list' ? 'a list' : 'text'}, ` +
          'but another feature reads it the other way; give the multi-valued feature a "delimiter" or read another column',
      );
    }
    return `${prefix}_${position}`;
  });

  return { eventColumns, catalogColumns, featureInputs };
}

function shapeOf(feature: FeatureConfig): ColumnShape {
  return feature.kind === 'multi' && feature.delimiter === null ? 'list' : 'text';
}
