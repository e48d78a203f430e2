/**
 * The saved Logs Insights queries (infra/log-queries.ts) applied to captured log lines, with the
 * same rules as their text: Logs Insights is not available offline, so the tests check that each
 * query's filters find the lines the real functions write, and that those lines have its fields.
 */
import { quoted, type SavedQuery } from '../../infra/log-queries.js';

export interface LogLine {
  raw: string;
  fields: Record<string, unknown>;
}

/** The JSON lines of captured output, each with its raw text (what `@message like` searches). */
export function logLinesOf(output: string): LogLine[] {
  return output.split('\n').flatMap((raw) => {
    if (!raw.trim().startsWith('{')) return [];
    try {
      return [{ raw, fields: JSON.parse(raw) as Record<string, unknown> }];
    } catch {
      return [];
    }
  });
}

/** The lines the query returns: its `message`/`level` filters and its lookup (`"value"` anywhere). */
export function runSavedQuery(query: SavedQuery, lines: readonly LogLine[], lookup?: string): LogLine[] {
  if (query.lookup && lookup === undefined) throw new Error(`${query.id} needs a lookup value`);
  return lines.filter(({ raw, fields }) => {
    if (query.messages && !query.messages.includes(String(fields.message))) return false;
    if (query.level && fields.level !== query.level) return false;
    if (query.lookup && !raw.includes(quoted(lookup as string))) return false;
    return true;
  });
}
