import { parseIsoInstant, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION, type Manifest, type SplitConfig } from '@mcm/schema';

/** The cut-offs of a time or fraction split in epoch milliseconds; both null for leave-last-out. */
export interface SplitCutoffs {
  trainEnd: number | null;
  validationEnd: number | null;
}

/**
 * Resolves the config's split into cut-offs. A fraction split places them at those
 * fractions of [firstTime, lastTime], rounded to whole milliseconds.
 */
export function resolveCutoffs(split: SplitConfig, firstTime: number, lastTime: number): SplitCutoffs {
  switch (split.kind) {
    case 'time':
      return { trainEnd: parseIsoInstant(split.trainEnd), validationEnd: parseIsoInstant(split.validationEnd) };
    case 'fraction': {
      const range = lastTime - firstTime;
      return {
        trainEnd: Math.round(firstTime + split.train * range),
        validationEnd: Math.round(firstTime + (split.train + split.validation) * range),
      };
    }
    case 'leave-last-out':
      return { trainEnd: null, validationEnd: null };
  }
}

/**
 * SQL of an event's split label from its `time_ms` and `from_end` (1 for the customer's
 * last event). Events at or after trainEnd are validation, at or after validationEnd
 * test; with leave-last-out the last event is test and the one before validation.
 */
export function splitExpression(split: SplitConfig, cutoffs: SplitCutoffs): string {
  if (split.kind === 'leave-last-out') {
    return `CAST(CASE from_end WHEN 1 THEN ${SPLIT_TEST} WHEN 2 THEN ${SPLIT_VALIDATION} ELSE ${SPLIT_TRAIN} END AS UTINYINT)`;
  }
  return (
    `CAST(CASE WHEN time_ms >= ${cutoffs.validationEnd} THEN ${SPLIT_TEST} ` +
    `WHEN time_ms >= ${cutoffs.trainEnd} THEN ${SPLIT_VALIDATION} ELSE ${SPLIT_TRAIN} END AS UTINYINT)`
  );
}

/** Describes the split and its cut-offs for the manifest. */
export function manifestSplit(split: SplitConfig, cutoffs: SplitCutoffs): Manifest['split'] {
  const iso = (milliseconds: number | null) => (milliseconds === null ? null : new Date(milliseconds).toISOString());
  return {
    kind: split.kind,
    trainEnd: cutoffs.trainEnd,
    validationEnd: cutoffs.validationEnd,
    trainEndIso: iso(cutoffs.trainEnd),
    validationEndIso: iso(cutoffs.validationEnd),
  };
}
