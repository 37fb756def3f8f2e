/**
 * Desired-configuration documents for globs of devices (SPEC: Device protocol
 * version 2, "one versioned document per device (or per glob of devices)"),
 * and which document a device gets.
 *
 * A config glob is a device glob (console/device-glob.ts: the device-id
 * alphabet plus `*` and `?`) with at least one wildcard: without one it names
 * a single device, whose own document is set by id.
 *
 * Precedence, when several documents cover a device: the device's own
 * document first; then the most specific matching glob, i.e. the one with
 * the most literal characters (`pump-7?` before `pump-*` before `*`); on a
 * tie, the one with fewer `*`; on a tie again, the one set last (the higher
 * version). The choice depends only on the documents, never on the order
 * they were loaded in, so every restart picks the same one.
 */
import { globMatches, isValidGlob, MAX_GLOB_LENGTH } from '../console/device-glob.js';
import type { Logger } from '../../log.js';
import type { DownlinkPort } from '../session-extension.js';
import { configMessage, valueObjectError } from './control-messages.js';
import type { DesiredDocument } from './desired-configs.js';

/** Why `glob` cannot name a glob document (a sentence for the operator), or null when it can. */
export function configGlobError(glob: unknown): string | null {
  if (!isValidGlob(glob)) {
    return `a device glob is 1 to ${MAX_GLOB_LENGTH} characters of A-Z a-z 0-9 . _ - and the wildcards * and ?, got ${JSON.stringify(glob)}`;
  }
  if (!/[*?]/.test(glob)) return `a glob document needs a wildcard (* or ?); ${JSON.stringify(glob)} is one device: set its own document`;
  return null;
}

/** True when `glob` may name a glob document. */
export function isConfigGlob(glob: unknown): glob is string {
  return configGlobError(glob) === null;
}

interface Specificity {
  readonly literals: number;
  readonly stars: number;
}

function specificityOf(glob: string): Specificity {
  let literals = 0;
  let stars = 0;
  for (const c of glob) {
    if (c === '*') stars += 1;
    else if (c !== '?') literals += 1;
  }
  return { literals, stars };
}

/** A glob document with what ranks it. */
interface Entry {
  readonly glob: string;
  readonly doc: DesiredDocument;
  readonly rank: Specificity;
}

/** True when `a` takes precedence over `b` (see the module comment). */
function outranks(a: Entry, b: Entry): boolean {
  if (a.rank.literals !== b.rank.literals) return a.rank.literals > b.rank.literals;
  if (a.rank.stars !== b.rank.stars) return a.rank.stars < b.rank.stars;
  return a.doc.version > b.doc.version;
}

/** The glob documents of a hub, by glob (a Map: globs are chosen by operators). */
export class GlobDocuments {
  readonly #entries = new Map<string, Entry>();

  /** Number of glob documents. */
  get size(): number {
    return this.#entries.size;
  }

  has(glob: string): boolean {
    return this.#entries.has(glob);
  }

  get(glob: string): DesiredDocument | undefined {
    return this.#entries.get(glob)?.doc;
  }

  /** Every glob and its document. */
  *entries(): IterableIterator<[string, DesiredDocument]> {
    for (const [glob, entry] of this.#entries) yield [glob, entry.doc];
  }

  set(glob: string, doc: DesiredDocument): void {
    this.#entries.set(glob, { glob, doc, rank: specificityOf(glob) });
  }

  delete(glob: string): boolean {
    return this.#entries.delete(glob);
  }

  /** The glob document that covers `device` (the most specific matching glob), or null. O(globs × id length). */
  resolve(device: string): { readonly glob: string; readonly doc: DesiredDocument } | null {
    let best: Entry | null = null;
    for (const entry of this.#entries.values()) {
      if ((best === null || outranks(entry, best)) && globMatches(entry.glob, device)) best = entry;
    }
    return best === null ? null : { glob: best.glob, doc: best.doc };
  }
}

/**
 * The document a device gets: its own (from `own`, keyed by device id), else
 * the most specific matching glob's; `glob` says which glob, null for its own.
 */
export function effectiveDocument(
  own: ReadonlyMap<string, DesiredDocument>, globs: GlobDocuments, device: string,
): { readonly doc: DesiredDocument; readonly glob: string | null } | null {
  const doc = own.get(device);
  return doc !== undefined ? { doc, glob: null } : globs.resolve(device);
}

/**
 * Sends `doc` to a device (SPEC `{"config"}`), unless it has more fields than
 * the device's plan allows: a glob's document was checked against the
 * config's limits, and a device on a smaller plan may allow fewer. Logs
 * `config.not_sent` when it does not go; true when it went.
 */
export function sendDesiredDocument(port: DownlinkPort, doc: DesiredDocument, log: Logger): boolean {
  if (valueObjectError(doc.desired, port.limits.maxFields) !== null) {
    log.log('warn', 'config.not_sent', { device: port.device, version: doc.version, reason: 'maxFields' });
    return false;
  }
  if (port.sendDownlink(configMessage(doc.version, doc.desired))) return true;
  log.log('warn', 'config.not_sent', { device: port.device, version: doc.version });
  return false;
}
