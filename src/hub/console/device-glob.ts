/**
 * Device globs: the scope of a dashboard token and the argument of
 * `{"subscribe":..}` (SPEC: Dashboard protocol).
 *
 * A glob is 1 to {@link MAX_GLOB_LENGTH} characters of the device-id alphabet
 * (`A-Z a-z 0-9 . _ -`) plus two wildcards: `*` matches any run of characters
 * (also none), `?` exactly one. There are no character classes and no
 * escapes, because device ids can never contain `*` or `?`. Matching is a
 * linear-time two-pointer scan, so a hostile glob such as `*a*a*a*a*b` cannot
 * make the hub backtrack exponentially.
 */

/** Longest glob accepted, in characters (device ids are at most 64). */
export const MAX_GLOB_LENGTH = 128;

const GLOB_PATTERN = /^[A-Za-z0-9._\-*?]+$/;

/** True when `glob` is a well-formed device glob. */
export function isValidGlob(glob: unknown): glob is string {
  return typeof glob === 'string' && glob.length >= 1 && glob.length <= MAX_GLOB_LENGTH && GLOB_PATTERN.test(glob);
}

/**
 * True when device id `id` matches `glob`. Greedy two-pointer match with a
 * single backtrack point (the last `*`), which is exact for `*`/`?` globs and
 * O(|glob| · |id|) in the worst case.
 */
export function globMatches(glob: string, id: string): boolean {
  let g = 0;
  let s = 0;
  let star = -1;
  let mark = 0;
  while (s < id.length) {
    const c = glob[g];
    if (c !== undefined && (c === '?' || c === id[s])) {
      g++;
      s++;
    } else if (c === '*') {
      star = g++;
      mark = s;
    } else if (star >= 0) {
      g = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

/**
 * True only when every device id matched by `inner` is also matched by
 * `outer`, so a subscription to `inner` stays within a token scoped to
 * `outer`.
 *
 * Conservative by design: it treats `inner` as a pattern of symbols (a
 * literal, `?`, `*`) and asks whether `outer` matches that pattern, where an
 * `outer` literal matches only the same literal, an `outer` `?` matches one
 * literal or `?`, and an `outer` `*` matches any run of symbols. When that
 * succeeds the inclusion holds; when it fails the inclusion may still hold in
 * rare corner cases (`??*` lies within `?*?` but is not recognised), and the
 * subscription is refused: a dashboard never sees more than its token allows.
 */
export function globWithin(inner: string, outer: string): boolean {
  const n = inner.length;
  const m = outer.length;
  // can[i][j]: inner[i..] is covered by outer[j..]; filled from the end.
  let next = new Array<boolean>(m + 1).fill(false);
  next[m] = true;
  for (let j = m - 1; j >= 0; j--) next[j] = outer[j] === '*' && next[j + 1] === true;
  for (let i = n - 1; i >= 0; i--) {
    const row = new Array<boolean>(m + 1).fill(false);
    const a = inner[i];
    for (let j = m - 1; j >= 0; j--) {
      const b = outer[j];
      if (b === '*') {
        // `*` covers nothing more (row[j+1]) or swallows inner[i] and stays (next[j]).
        row[j] = row[j + 1] === true || next[j] === true;
      } else if (a === '*') {
        row[j] = false;
      } else if (b === '?' || b === a) {
        row[j] = next[j + 1] === true;
      }
    }
    next = row;
  }
  return next[0] === true;
}
