import type { SequenceBatch } from '@mcm/model';
import { buildBatch, loadTrainingData, type CustomerRecord, type TrainingData } from '@mcm/training';

/**
 * The ingested customer histories, indexed by customer id. A customer's history is
 * every ingested event, whatever its split: serving predicts what comes after the
 * latest event the ingest saw.
 */
export class CustomerStore {
  private readonly byId: ReadonlyMap<string, CustomerRecord>;

  private constructor(readonly data: TrainingData) {
    this.byId = new Map(data.customers.map((record) => [record.id, record]));
  }

  /** Loads every shard of the ingest output in `dataDir`. */
  static async load(dataDir: string): Promise<CustomerStore> {
    return new CustomerStore(await loadTrainingData(dataDir));
  }

  get customers(): number {
    return this.byId.size;
  }

  has(customerId: string): boolean {
    return this.byId.has(customerId);
  }

  /**
   * Returns the model input of the customer's most recent `maxLength` events, or null
   * when the customer is not in the ingested data.
   */
  history(customerId: string, featureNames: readonly string[], maxLength: number): SequenceBatch | null {
    const record = this.byId.get(customerId);
    if (record === undefined) return null;
    const shard = this.data.shards[record.shard]!;
    const start = Math.max(record.start, record.end - maxLength);
    return buildBatch([{ shard, customer: record.customer, start, end: record.end }], featureNames);
  }
}
