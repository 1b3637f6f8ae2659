/** Quotes a value as a DuckDB string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Quotes a name as a DuckDB identifier, so column names with spaces or quotes work. */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Writes a list of strings as a DuckDB list literal. */
export function sqlStringList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** Quotes a JSON key as a JSONPath that DuckDB's json functions accept. */
export function jsonPath(key: string): string {
  return sqlString(`$."${key.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
}
