/** What one device session did, for its disconnect log line. */
import type { WireErrorCode } from '../errors.js';

/** Counts of one session, logged once when it ends (limit breaches summarised, not one line per message). */
export interface SessionSummary {
  accepted: number;
  nacked: Partial<Record<WireErrorCode, number>>;
}

/** A session's nacks by code for its disconnect line (`rate_limited:3,invalid_json:1`), or undefined when there were none. */
export function nackedText(summary: SessionSummary): string | undefined {
  let text = '';
  for (const code in summary.nacked) text += `${text === '' ? '' : ','}${code}:${summary.nacked[code as WireErrorCode]}`;
  return text === '' ? undefined : text;
}
