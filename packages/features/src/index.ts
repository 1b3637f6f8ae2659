export { runIngest, INGEST_DEFAULTS, type IngestOptions } from './ingest.ts';
export { REJECT_REASONS, type RejectReason } from './reject-reasons.ts';
export { REJECT_FILE } from './rejects.ts';
export { shardFile } from './shard-writer.ts';
// The serving app maps raw request events to vocabulary ids with the ingest's own SQL.
export { DuckDBSession, type DuckDBSessionOptions } from './duckdb-session.ts';
export { planColumns, type ColumnPlan, type ColumnNeed } from './column-plan.ts';
export { featureExpression } from './feature-expression.ts';
export { loadCatalog, CATALOG_TABLE } from './catalog-loader.ts';
export { resolveSourceFiles, type SourceFile } from './source-files.ts';
export { jsonPath, sqlString, sqlStringList } from './sql.ts';
