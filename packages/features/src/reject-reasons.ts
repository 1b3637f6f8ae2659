/**
 * Reject reasons: the code written to the reject file and the manifest's
 * `rejectsByReason`, with the cause it stands for.
 */
export const REJECT_REASONS = {
  'missing-customer': 'the customer column is empty',
  'unparseable-timestamp': 'the time is missing or does not match the configured time format',
  'unknown-event-type': 'the event type is not listed in eventType.allowed',
  'invalid-json': 'the line is not a JSON object',
  'wrong-field-count': 'the line has more or fewer fields than the file has columns',
  'invalid-encoding': 'the line contains bytes that are invalid in the configured encoding (UTF-8 unless csv.encoding says otherwise)',
  'unterminated-quote': 'a quoted field is not closed on the line',
  'line-too-long': 'the line is longer than the CSV reader accepts',
  'malformed-line': 'the CSV reader could not parse the line',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

/** SQL that maps a DuckDB CSV reader error type (reject_errors.error_type) to a reject reason. */
export function readerErrorReason(errorType: string): string {
  return (
    `(CASE ${errorType} ` +
    `WHEN 'TOO MANY COLUMNS' THEN 'wrong-field-count' ` +
    `WHEN 'MISSING COLUMNS' THEN 'wrong-field-count' ` +
    `WHEN 'INVALID ENCODING' THEN 'invalid-encoding' ` +
    `WHEN 'INVALID UNICODE' THEN 'invalid-encoding' ` +
    `WHEN 'UNQUOTED VALUE' THEN 'unterminated-quote' ` +
    `WHEN 'LINE SIZE OVER MAXIMUM' THEN 'line-too-long' ` +
    `ELSE 'malformed-line' END)`
  );
}
