import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProxyHeader, ipv6Bytes, ipv6Text, looksLikeProxyHeader, PROXY_V1_MAX_BYTES } from '../../src/hub/proxy-header.js';
import { parseTrustedRange, TrustedProxies } from '../../src/hub/trusted-proxies.js';
import { resolveHubConfig } from '../../src/hub/config.js';
import { proxyV1, proxyV2, V2_SIGNATURE } from '../helpers/proxy-protocol.js';

const MAX = 1024;
const CLIENT_HELLO_START = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);

test('v1: TCP4 and TCP6 give the source address and port, and the header length', () => {
  const header = proxyV1('203.0.113.7', 51_000);
  const decoded = decodeProxyHeader(Buffer.concat([header, CLIENT_HELLO_START]), MAX);
  assert.deepEqual(decoded, { kind: 'header', version: 1, length: header.length, source: { address: '203.0.113.7', port: 51_000 } });
  const v6 = proxyV1('2001:DB8:0:0:0:0:0:1', 443);
  assert.deepEqual(decodeProxyHeader(v6, MAX), { kind: 'header', version: 1, length: v6.length, source: { address: '2001:db8::1', port: 443 } });
  const mapped = proxyV1('::ffff:198.51.100.9');
  assert.equal(decodeProxyHeader(mapped, MAX).kind === 'header' && (decodeProxyHeader(mapped, MAX) as { source: { address: string } }).source.address, '198.51.100.9');
});

test('v1: UNKNOWN means "use the connection\'s own address"', () => {
  const header = Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n');
  assert.deepEqual(decodeProxyHeader(header, MAX), { kind: 'header', version: 1, length: header.length, source: null });
});

test('v2: IPv4, IPv6 and LOCAL; TLVs are skipped by the length field', () => {
  const v4 = proxyV2('198.51.100.20', { sourcePort: 1234, tlvBytes: 20 });
  assert.deepEqual(decodeProxyHeader(Buffer.concat([v4, CLIENT_HELLO_START]), MAX), { kind: 'header', version: 2, length: v4.length, source: { address: '198.51.100.20', port: 1234 } });
  const v6 = proxyV2('fd00::a:b');
  assert.deepEqual(decodeProxyHeader(v6, MAX), { kind: 'header', version: 2, length: v6.length, source: { address: 'fd00::a:b', port: 40_000 } });
  const local = proxyV2('10.0.0.1', { command: 'LOCAL' });
  assert.deepEqual(decodeProxyHeader(local, MAX), { kind: 'header', version: 2, length: local.length, source: null });
});

test('every strict prefix of a header is incomplete, never a verdict', () => {
  for (const header of [proxyV1('192.0.2.1'), proxyV1('2001:db8::5'), proxyV2('192.0.2.1', { tlvBytes: 3 }), proxyV2('2001:db8::5')]) {
    for (let n = 0; n < header.length; n += 1) {
      assert.deepEqual(decodeProxyHeader(header.subarray(0, n), MAX), { kind: 'incomplete' }, `${n} of ${header.length} bytes`);
    }
  }
});

test('bytes that are not a header say so from the first byte (a TLS ClientHello, HTTP)', () => {
  assert.deepEqual(decodeProxyHeader(CLIENT_HELLO_START, MAX), { kind: 'none' });
  assert.deepEqual(decodeProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'), MAX), { kind: 'none' });
  assert.deepEqual(decodeProxyHeader(Buffer.from('PROXz'), MAX), { kind: 'none' });
});

test('broken headers are invalid, with a reason', () => {
  const cases: Array<[string, Buffer]> = [
    ['v1 family', Buffer.from('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n')],
    ['v1 IPv6 in TCP4', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
    ['v1 port', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n')],
    ['v1 leading zero', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n')],
    ['v1 fields', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n')],
    ['v1 no CRLF', Buffer.from(`PROXY TCP4 ${'1'.repeat(PROXY_V1_MAX_BYTES)}`)],
  ];
  const v2 = proxyV2('192.0.2.1');
  const badVersion = Buffer.from(v2);
  badVersion[12] = 0x11;
  const badCommand = Buffer.from(v2);
  badCommand[12] = 0x22;
  const udp = Buffer.from(v2);
  udp[13] = 0x12;
  const unix = Buffer.from(v2);
  unix[13] = 0x31;
  const short = Buffer.from(v2.subarray(0, 16 + 8));
  short.writeUInt16BE(8, 14);
  cases.push(['v2 version', badVersion], ['v2 command', badCommand], ['v2 UDP', udp], ['v2 unix', unix], ['v2 short addresses', short]);
  for (const [what, bytes] of cases) {
    const result = decodeProxyHeader(bytes, MAX);
    assert.equal(result.kind, 'invalid', what);
    assert.ok(result.kind === 'invalid' && result.reason.length > 0);
  }
});

test('a v2 header longer than maxBytes is too large, decided from its length field alone', () => {
  const big = proxyV2('192.0.2.1', { tlvBytes: 2000 });
  assert.deepEqual(decodeProxyHeader(big.subarray(0, 16), MAX), { kind: 'too_large' });
  assert.equal(decodeProxyHeader(big, big.length).kind, 'header');
});

test('looksLikeProxyHeader: yes, no, or maybe while too few bytes arrived', () => {
  assert.equal(looksLikeProxyHeader(proxyV1('192.0.2.1')), 'yes');
  assert.equal(looksLikeProxyHeader(V2_SIGNATURE), 'yes');
  assert.equal(looksLikeProxyHeader(Buffer.from('PRO')), 'maybe');
  assert.equal(looksLikeProxyHeader(V2_SIGNATURE.subarray(0, 5)), 'maybe');
  assert.equal(looksLikeProxyHeader(CLIENT_HELLO_START), 'no');
  assert.equal(looksLikeProxyHeader(Buffer.from('PROXIMITY')), 'no');
});

test('IPv6 text: RFC 5952 compression, IPv4-mapped given as IPv4', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::10.1.2.3', '::a01:203'],
  ];
  for (const [input, expected] of cases) assert.equal(ipv6Text(ipv6Bytes(input)), expected, input);
  assert.deepEqual([...ipv6Bytes('2001:db8::ff')], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
});

test('trusted ranges: addresses and CIDRs, IPv4 and IPv6; an IPv4-mapped socket address matches its IPv4 range', () => {
  assert.deepEqual(parseTrustedRange('10.0.0.2'), { address: '10.0.0.2', prefix: 32, family: 'ipv4' });
  assert.deepEqual(parseTrustedRange('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', 'fd00::/129', 'localhost', '10.0.0.256', '']) assert.equal(parseTrustedRange(bad), null, bad);
  const trusted = new TrustedProxies([parseTrustedRange('10.0.0.0/24')!, parseTrustedRange('fd00::/8')!]);
  assert.equal(trusted.has('10.0.0.9'), true);
  assert.equal(trusted.has('::ffff:10.0.0.9'), true);
  assert.equal(trusted.has('10.0.1.9'), false);
  assert.equal(trusted.has('fd12::1'), true);
  assert.equal(trusted.has('fe80::1'), false);
  assert.equal(trusted.has(undefined), false);
});

test('config: device.proxyProtocol is resolved with its defaults, and a bad entry names its key', () => {
  const { hub } = resolveHubConfig({ device: { proxyProtocol: { trusted: ['10.0.0.2', 'fd00::/8'] } } }, { baseDir: '/tmp' });
  assert.deepEqual(hub.device.proxyProtocol, { trusted: ['10.0.0.2/32', 'fd00::/8'], headerTimeoutMs: 3_000, maxHeaderBytes: 1_024 });
  assert.deepEqual(resolveHubConfig({}, { baseDir: '/tmp' }).hub.device.proxyProtocol.trusted, []);
  assert.throws(() => resolveHubConfig({ device: { proxyProtocol: { trusted: ['10.0.0.0/40'] } } }, { baseDir: '/tmp' }), /device\.proxyProtocol\.trusted\[0\]/);
  assert.throws(() => resolveHubConfig({ device: { proxyProtocol: { trusted: '10.0.0.2' } } }, { baseDir: '/tmp' }), /device\.proxyProtocol\.trusted must be an array/);
  assert.throws(() => resolveHubConfig({ device: { proxyProtocol: { maxHeaderBytes: 100 } } }, { baseDir: '/tmp' }), /device\.proxyProtocol\.maxHeaderBytes/);
  assert.throws(() => resolveHubConfig({ device: { proxyProtocol: { tursted: [] } } }, { baseDir: '/tmp' }), /unknown key device\.proxyProtocol\.tursted/);
});
