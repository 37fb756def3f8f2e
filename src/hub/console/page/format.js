// Text formatting for untrusted device data. Everything ends up in
// textContent, never in HTML, so a value like <img src=x onerror=...> is shown
// as the characters it is.

const MAX_VALUE_CHARS = 48;

/** "just now", "12 s ago", "4 min ago", "3 h ago", "2 d ago", "never". */
export function formatAgo(ts, now) {
  if (!ts) return 'never';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 3) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A number with at most three decimals, or a value as short text. */
export function formatValue(value) {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs >= 1000 ? value.toFixed(1) : abs >= 1 ? String(Math.round(value * 1000) / 1000) : value.toPrecision(3);
  }
  const text = String(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

/** "temp 21.5 · hum 40 · door open" */
export function formatValues(data) {
  const parts = [];
  for (const [name, value] of Object.entries(data)) {
    parts.push(`${name} ${formatValue(value)}`);
    if (parts.length >= 8) break;
  }
  return parts.join(' · ');
}

/** "1.2k" style for rates and counters. */
export function formatCount(n) {
  if (n >= 10000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** "expires in 52 min", "expires in 3 h", "expired". */
export function formatExpiry(expiresAt, now) {
  const s = Math.round((expiresAt - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 60) return `expires in ${s} s`;
  if (s < 3600) return `expires in ${Math.ceil(s / 60)} min`;
  if (s < 172800) return `expires in ${Math.round(s / 3600)} h`;
  return `expires in ${Math.round(s / 86400)} d`;
}

/** A predicate for the filter box: a glob when it holds * or ?, else a case-insensitive substring. */
export function deviceFilter(text) {
  const query = text.trim();
  if (query === '') return () => true;
  if (/[*?]/.test(query)) {
    const source = query.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    const re = new RegExp(`^${source}$`, 'i');
    return (id) => re.test(id);
  }
  const needle = query.toLowerCase();
  return (id) => id.toLowerCase().includes(needle);
}
