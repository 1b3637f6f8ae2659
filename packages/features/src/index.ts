export { runIngest, INGEST_DEFAULTS, type IngestOptions } from './ingest.ts';
export { REJECT_REASONS, type RejectReason } from './reject-reasons.ts';
export { REJECT_FILE } from './rejects.ts';
export { shardFile } from './shard-writer.ts';
