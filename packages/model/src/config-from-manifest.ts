import type { Manifest } from '@mcm/schema';
import { createModelConfig, type FeatureConfig, type ModelConfig, type ModelOptions, type TaskConfig } from './config.ts';

/** Options of `modelConfigFromManifest`: any model option, plus which features and tasks to use. */
export interface ManifestModelOptions extends Partial<ModelOptions> {
  /** Names of the manifest features to embed, in order; default all. One name gives an item-only model. */
  inputFeatures?: readonly string[];
  /** Names of the features whose next value is a task; default the manifest's tasks. */
  tasks?: readonly string[];
  /** Maximum history length; default the manifest's maxLength. */
  maxLength?: number;
}

/** Builds a validated model configuration for the dataset described by `manifest`. */
export function modelConfigFromManifest(manifest: Manifest, overrides: ManifestModelOptions = {}): ModelConfig {
  const { inputFeatures, tasks: taskNames, maxLength, ...options } = overrides;

  const byName = new Map(manifest.features.map((feature) => [feature.name, feature]));
  const featureNames = inputFeatures ?? manifest.features.map((feature) => feature.name);
  const features: FeatureConfig[] = featureNames.map((name) => {
    const feature = byName.get(name);
    if (feature === undefined) {
      throw new Error(`input feature "${name}" is not in the manifest (${[...byName.keys()].join(', ')})`);
    }
    return { name, kind: feature.kind, vocabularySize: feature.vocabularySize };
  });

  const tasks: TaskConfig[] = (taskNames ?? manifest.tasks).map((name) => {
    const feature = byName.get(name);
    if (feature === undefined) {
      throw new Error(`task "${name}" is not a feature of the manifest (${[...byName.keys()].join(', ')})`);
    }
    return { name, feature: name, vocabularySize: feature.vocabularySize };
  });

  return createModelConfig({ features, tasks, maxLength: maxLength ?? manifest.maxLength, ...options });
}
