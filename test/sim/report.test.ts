import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetStats } from '../../firmware-sim/fleet-stats.js';
import { buildReport, formatReportTable, normalRunFailure } from '../../firmware-sim/report.js';
import { renderReportHtml, escapeHtml } from '../../firmware-sim/report-html.js';
import { ProgressLine, formatProgress } from '../../firmware-sim/progress-line.js';

const SENDING = { ackedPerSec: 12.5, sentPerSec: 12.5 };
const RUN = {
  behavior: 'normal', url: 'wss://localhost:8443/v1/device', devices: 3, ratePerDevice: 1, payloadBytes: 0,
  tls: '1.2', elapsedMs: 10_000, startupMs: 1_000, sendingMs: 8_000, startedAt: '2026-11-22T12:00:00.000Z',
};

function sampleStats(): FleetStats {
  const stats = new FleetStats(0);
  stats.everConnected = 2;
  stats.connectAttempts = 4;
  for (let i = 0; i < 100; i++) {
    stats.countSend(i * 50, false);
    stats.countAck(i * 50 + 5, 1 + (i % 10));
  }
  stats.countSend(100, true);
  stats.countNack('rate_limited');
  stats.countNack('rate_limited');
  stats.countClose('4029');
  stats.handshake.record(12);
  stats.handshake.record(30);
  return stats;
}

test('the report carries every SPEC figure, consistent with the counts', () => {
  const report = buildReport(sampleStats(), { lost: 0, unsent: 0, dropped: 0, connectedAtEnd: 2, sending: SENDING }, RUN);
  assert.equal(report.devices.connected, 2);
  assert.equal(report.devices.neverConnected, 1);
  assert.equal(report.messages.sent, 100);
  assert.equal(report.messages.resent, 1);
  assert.equal(report.messages.acked, 100);
  assert.deepEqual(report.messages.nacked, { rate_limited: 2 });
  assert.deepEqual(report.closes, { '4029': 1 });
  assert.equal(report.ackLatencyMs.max, 10);
  assert.ok(report.ackLatencyMs.p50 >= 5 && report.ackLatencyMs.p50 <= 6);
  assert.ok(report.handshakeMs.p99 === 30);
  assert.equal(report.throughput.ackedPerSec, 12.5);
  assert.equal(report.throughput.overallAckedPerSec, 10);
  assert.equal(report.charts.throughput.reduce((n, p) => n + p.acked, 0), 100);
  // JSON round trip: what --report writes.
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
});

test('a normal run fails on lost messages, readings never sent, dropped readings or devices that never connected', () => {
  const stats = sampleStats();
  const ok = buildReport(stats, { lost: 0, unsent: 0, dropped: 0, connectedAtEnd: 3, sending: SENDING }, { ...RUN, devices: 2 });
  assert.equal(normalRunFailure(ok), null);
  const lost = buildReport(stats, { lost: 4, unsent: 0, dropped: 1, connectedAtEnd: 3, sending: SENDING }, RUN);
  assert.equal(normalRunFailure(lost), '4 messages lost, 1 readings dropped by full outboxes, 1 devices never connected');
  // SPEC: never sent is a failure too (a hub that died before the end), even with nothing lost in transit.
  const unsent = buildReport(stats, { lost: 0, unsent: 604, dropped: 0, connectedAtEnd: 0, sending: SENDING }, { ...RUN, devices: 2 });
  assert.equal(normalRunFailure(unsent), '604 readings never sent (0 / 2 devices connected at the end)');
});

test('the table shows each figure on its own line', () => {
  const text = formatReportTable(buildReport(sampleStats(), { lost: 0, unsent: 0, dropped: 0, connectedAtEnd: 2, sending: SENDING }, RUN));
  for (const label of ['devices connected', 'handshake p50 / p99', 'messages sent', 'acked', 'nacked', 'lost', 'ack latency p50 / p99 / max', 'throughput', 'closes']) {
    assert.match(text, new RegExp(`^${label.replace(/[/]/g, '\\/')}\\s`, 'm'), label);
  }
  assert.match(text, /rate_limited ×2/);
  assert.match(text, /4029 ×1/);
});

test('the HTML page is self-contained, with both charts as inline SVG', () => {
  const html = renderReportHtml(buildReport(sampleStats(), { lost: 0, unsent: 0, dropped: 0, connectedAtEnd: 2, sending: SENDING }, { ...RUN, url: 'wss://x/<script>' }), 'PASS: zero lost');
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 2);
  assert.doesNotMatch(html, /<script/i, 'no scripts, and the url is escaped');
  assert.doesNotMatch(html, /(src|href)=["']?https?:/i, 'no external resources');
  assert.match(html, /&lt;script&gt;/);
  assert.match(html, /<rect /, 'histogram bars');
  assert.match(html, /<path d="M/, 'throughput line');
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('an empty run still renders', () => {
  const report = buildReport(new FleetStats(0), { lost: 0, unsent: 0, dropped: 0, connectedAtEnd: 0, sending: SENDING }, RUN);
  assert.equal(report.ackLatencyMs.p99, 0);
  assert.match(renderReportHtml(report), /No acked messages/);
  assert.match(formatReportTable(report), /nacked\s+none/);
});

test('the progress line shows connected, msgs/s, acked, nacked, lost and p99', () => {
  const line = formatProgress(sampleStats(), 3, 12_000, 42.4, 1, 'sending');
  assert.match(line, /^sim\s+12s sending connected 0\/3  42 msg\/s  sent 100  acked 100  nacked 2  lost 1  ack p99 \d+(\.\d)? ms$/);
});

test('the progress line is rewritten in place on a terminal, and only every few seconds elsewhere', async () => {
  const writes: string[] = [];
  const tty = Object.assign({ write: (s: string) => writes.push(s) > 0 }, { isTTY: true }) as unknown as NodeJS.WritableStream & { isTTY: boolean };
  const line = new ProgressLine(tty, sampleStats(), (rate) => `rate ${rate}`);
  line.start();
  await new Promise((r) => setTimeout(r, 1_100));
  line.stop();
  assert.ok(writes.length >= 2, JSON.stringify(writes));
  assert.ok(writes.every((w) => w.startsWith('\r\x1b[2K')));
  assert.ok(writes.at(-1)?.endsWith('\n'));
  const logged: string[] = [];
  const file = { write: (s: string) => logged.push(s) > 0 } as unknown as NodeJS.WritableStream;
  const quiet = new ProgressLine(file, sampleStats(), () => 'x');
  quiet.start();
  await new Promise((r) => setTimeout(r, 1_100));
  quiet.stop();
  assert.deepEqual(logged, [], 'no line within the first seconds when not a terminal');
});
