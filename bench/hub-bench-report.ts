/**
 * The hub benchmark's ratios: each hub's cost over the bare server's, and
 * today's hub over each baseline's (FLEETHUB_BENCH_BASELINE), printed as a
 * table and returned for the results JSON.
 */
import { WINDOW, WINDOWED_CONNECTIONS } from './mosquitto-ingest.js';
import { formatRatio, roundRatios, type RoundRatios } from './round-ratios.js';

/** The run's fleet sizes, which name its result rows. */
export interface FleetSize { devices: number; idle: number }

/** What {@link reportRatios} returns for the JSON. */
export interface RatioReport {
  /** Today's hub over bare, by scenario: the ratio of the sums. */
  ratios: Record<string, number>;
  /** Today's hub over bare, by scenario: the per-round ratios. */
  roundRatios: Record<string, RoundRatios>;
  /** Each hub (today's and each baseline's) over bare, by kind and scenario. */
  ratiosByKind: Record<string, Record<string, number>>;
  roundRatiosByKind: Record<string, Record<string, RoundRatios>>;
  /** Today's hub over each baseline's hub, round by round, by baseline kind and scenario. */
  todayOverBaseline: Record<string, Record<string, RoundRatios>>;
}

/** Each scenario's result row and the figure in it that the ratios compare. */
function scenarios(size: FleetSize): [name: string, row: string, key: string][] {
  const out: [string, string, string][] = [];
  for (const label of ['P-256', 'RSA-2048']) {
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      for (const how of ['full', 'resumed']) out.push([`handshake ${label} ${version} ${how}`, `handshake ${label} ${version} ${how}`, 'serverCpuMs']);
    }
  }
  out.push(['windowed cpu/msg', `windowed ${WINDOWED_CONNECTIONS}x${WINDOW}`, 'cpuUsPerMsg'], ['paced cpu/msg', `paced ${size.devices} devices x 10/s`, 'cpuUsPerMsg']);
  out.push(['idle memory/connection', `idle ${size.idle} connections`, 'kibPerConnection']);
  return out;
}

/**
 * Prints each hub's ratios to the bare server (the ratio of the sums; the
 * median of the per-round ratios and their middle half, p25–p75, in
 * brackets) and, with baselines, today's hub over each baseline's, round by
 * round. Returns them for the JSON: `ratios` and `roundRatios` are today's
 * hub over bare, as without baselines.
 */
export function reportRatios(kinds: readonly string[], results: Readonly<Record<string, Record<string, number>>>, costRounds: Readonly<Record<string, Record<string, number[]>>>, size: FleetSize): RatioReport {
  const hubs = kinds.filter((kind) => kind !== 'bare');
  const ratiosByKind: Record<string, Record<string, number>> = {};
  const roundRatiosByKind: Record<string, Record<string, RoundRatios>> = {};
  const todayOverBaseline: Record<string, Record<string, RoundRatios>> = {};
  process.stdout.write(`\nratios to bare, ratio of sums (median of rounds, p25–p75) (the bar: handshake <= 1.1, windowed <= 1.7, paced <= 1.2, memory <= 1.2)\n`);
  process.stdout.write(`${''.padEnd(36)}${hubs.map((kind) => kind.padEnd(26)).join('')}\n`);
  for (const [name, rowName, key] of scenarios(size)) {
    const bare = results[`${rowName} (bare)`]?.[key] ?? NaN;
    const cells = hubs.map((kind) => {
      const ratio = (results[`${rowName} (${kind})`]?.[key] ?? NaN) / bare;
      (ratiosByKind[kind] ??= {})[name] = ratio;
      const rounds = costRounds[name];
      if (rounds !== undefined) (roundRatiosByKind[kind] ??= {})[name] = roundRatios(rounds[kind]!, rounds.bare!);
      return formatRatio(ratio, roundRatiosByKind[kind]?.[name]).padEnd(26);
    });
    process.stdout.write(`${name.padEnd(36)}${cells.join('')}\n`);
  }
  for (const baseline of hubs.filter((kind) => kind !== 'hub')) {
    process.stdout.write(`\nhub / ${baseline}, per round (median, p25–p75, min–max)\n`);
    for (const [name] of scenarios(size)) {
      const rounds = costRounds[name];
      if (rounds === undefined) continue;
      const r = ((todayOverBaseline[baseline] ??= {})[name] = roundRatios(rounds.hub!, rounds[baseline]!));
      process.stdout.write(`${name.padEnd(36)}${r.median.toFixed(2)}  ${r.p25.toFixed(2)}–${r.p75.toFixed(2)}  ${r.min.toFixed(2)}–${r.max.toFixed(2)}  (${r.rounds} rounds)\n`);
    }
  }
  return { ratios: ratiosByKind.hub ?? {}, roundRatios: roundRatiosByKind.hub ?? {}, ratiosByKind, roundRatiosByKind, todayOverBaseline };
}
