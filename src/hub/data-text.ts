/**
 * Finds the text of a telemetry message's `data` object inside the frame the
 * device sent, so the store can keep the device's own JSON instead of
 * serialising the parsed object again (`JSON.stringify` is the largest single
 * cost of storing a reading). Pure; runs only on text `JSON.parse` accepted.
 *
 * Exactness matters more than coverage: whenever the text could mean
 * something other than what a plain reading shows (a key written with an
 * escape such as `"d\u0061ta"`, a value that is not an object), the answer is
 * `undefined` and the caller serialises the parsed object as before. With
 * `data` given twice, `JSON.parse` keeps the last one, and so does this.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function skipSpace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i += 1;
  }
}

/** Index just past the string starting at `at` (an opening quote). */
function skipString(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i += 1;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

/** Index just past the JSON value starting at `at`. */
function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return skipString(text, at);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = at; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i = skipString(text, i) - 1;
        if (i < 0) return -1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth += 1;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next separator or space.
  let i = at;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break;
    i += 1;
  }
  return i;
}

/**
 * The text of the top-level `data` object of a one-message frame (`text` is
 * valid JSON), or undefined when it is not plainly there.
 */
export function dataText(text: string): string | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  i = skipSpace(text, i + 1);
  let found: string | undefined;
  while (text.charCodeAt(i) === QUOTE) {
    const keyStart = i;
    i = skipString(text, i);
    if (i < 0) return undefined;
    const key = text.slice(keyStart + 1, i - 1);
    if (key.includes('\\')) return undefined;
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    const valueStart = i;
    i = skipValue(text, i);
    if (i < 0) return undefined;
    if (key === 'data') found = text.charCodeAt(valueStart) === OPEN_BRACE ? text.slice(valueStart, i) : undefined;
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== COMMA) break;
    i = skipSpace(text, i + 1);
  }
  return text.charCodeAt(i) === CLOSE_BRACE ? found : undefined;
}
