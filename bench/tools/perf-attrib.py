#!/usr/bin/env python3
"""Attributes a Node server's perf samples to named components of the hub.

Reads each file through `perf script` and classifies every sample by its stack
(the innermost hub frame, JSON, GC, the syscall, libuv...); prints each
component's share of the samples. Made for the files the hub benchmark writes
with FLEETHUB_BENCH_PERF=dir (docs/benchmarks.md, "Where the hub's CPU per
paced reading goes"); the JS frames are named only if the servers ran with
FLEETHUB_BENCH_NODE_FLAGS=--perf-basic-prof-only-functions.

usage: python3 bench/tools/perf-attrib.py DIR/hub-paced-*.perf.data > hub.txt
Needs perf. Its output is perf-table.py's input."""
import subprocess, sys, re, collections

GC = re.compile(r'Scaveng|MarkCompact|Heap::|GCTracer|ConcurrentMarking|Sweeper|MinorMC|IncrementalMarking|MemoryAllocator|MemoryChunk|Evacuat|PagedSpace|NewSpace::|Heap\b')
JSONP = re.compile(r'JsonParser|Builtins_JsonParse|JSON.parse')
JSONS = re.compile(r'JsonStringif|Builtins_JsonStringify')
# innermost hub frame decides (file, function) -> component
HUB = [
    (re.compile(r'store/(embedded-log|commit-queue|record-codec|segment-writer|segment\.|crc32|device-state|seq-window|history|position-waiters|write-outage|log-maintenance|retention)'), 'store (append, group commit, state)'),
    (re.compile(r'hub/protocol'), 'validation (parseFrame/parseTelemetry)'),
    (re.compile(r'hub/token-bucket|device-limits'), 'rate limiter + quota'),
    (re.compile(r'hub/hub-metrics|/metrics\.js'), 'metrics'),
    (re.compile(r'hub/(hub-feed|live-feed)'), 'live feed'),
    (re.compile(r'hub/ack-tracker|#flushAcks|#scheduleAck|#appended'), 'acks (tracker, coalescing, send)'),
    (re.compile(r'#send |#pauseIfUnread|#flushed'), 'acks (tracker, coalescing, send)'),
    (re.compile(r'hub/(device-session|v2-session|session-)'), 'session (#onMessage etc.)'),
    (re.compile(r'hub/(device-listener|connection-gate|device-registry|device-peer|device-upgrade|crl)'), 'listener/heartbeat'),
    (re.compile(r'/log\.js'), 'logging'),
]
def leafkind(frames):
    """frames leaf-first: (sym, dso)."""
    sym, dso = frames[0]
    if 'kernel' in dso:
        for s, d in frames:
            if 'kernel' not in d: break
            m = re.search(r'__x64_sys_(\w+)|__se_sys_(\w+)|do_syscall', s)
            if m and (m.group(1) or m.group(2)):
                name = m.group(1) or m.group(2)
                if name in ('write', 'writev', 'sendmsg'): return 'kernel: socket write'
                if name in ('read', 'recvfrom', 'readv'): return 'kernel: socket read'
                if name in ('epoll_wait', 'epoll_pwait', 'epoll_ctl'): return 'kernel: epoll'
                if name in ('futex',): return 'kernel: futex'
                if name in ('pwrite64', 'pwritev', 'fdatasync'): return 'kernel: disk write'
                return 'kernel: other syscall (%s)' % name
        return 'kernel: irq/softirq/sched'
    if 'libcrypto' in dso or 'libssl' in dso or re.search(r'^(EVP_|SSL_|ssl|tls1|aes|gcm|ChaCha|sha|CRYPTO|ossl|OPENSSL|BN_|ec_|ecp_|bn_)', sym):
        return 'OpenSSL (TLS records)'
    return None

WRITE = re.compile(r'ws/lib/sender|SSL_write|TLSWrap::DoWrite|TLSWrap::EncOut|ksys_write|__libc_write|writeGeneric|writevGeneric|LibuvStreamWrap::DoTryWrite|uv_try_write|onWriteComplete|afterWriteDispatched|WriteWrap')
READ = re.compile(r'SSL_read|ksys_read|TLSWrap::ClearOut|TLSWrap::OnStreamRead|uv__read|ws/lib/receiver|onStreamRead|readableAddChunk|socketOnData|receiverOnMessage|Builtins_CreateTypedArray')
def component(frames):
    for s, d in frames:
        if GC.search(s): return 'GC'
    for s, d in frames:
        if 'exc_page_fault' in s: return 'page faults'
    for s, d in frames:
        if WRITE.search(s): return 'reply writes (ws.send, TLS, write syscall)'
    for s, d in frames[:3]:
        if JSONP.search(s): return 'JSON.parse'
        if JSONS.search(s): return 'JSON.stringify'
    for s, d in frames:
        if s.startswith('JS:'):
            for pat, name in HUB:
                if pat.search(s): return 'hub: ' + name
    for s, d in frames:
        if READ.search(s): return 'frame receive (read syscall, TLS, ws receiver)'
    lk = leafkind(frames)
    if lk: return lk
    for s, d in frames:
        if 'ws/lib/receiver' in s: return 'ws receive'
        if 'ws/lib/sender' in s: return 'ws send'
        if 'ws/lib/websocket' in s: return 'ws socket glue'
    for s, d in frames:
        if 'processTimers' in s or 'listOnTimeout' in s: return 'timers'
        if s.startswith('JS:') and 'node:' in s: return 'node streams/net/tls JS'
    if any('uv_' in s or 'libuv' in d for s, d in frames[:4]): return 'libuv'
    return 'other native (node/v8 runtime)'

def run(path, totals, kinds):
    p = subprocess.Popen(['perf', 'script', '-i', path, '-F', 'comm,tid,ip,sym,dso'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors='replace')
    frames = []; n = 0
    def flush():
        nonlocal frames, n
        if frames:
            c = component(frames); totals[c] += 1; n += 1
            kinds[(c, frames[0][0][:90])] += 1
        frames = []
    for line in p.stdout:
        if not line.strip(): flush(); continue
        if line.startswith((' ', '\t')):
            m = re.match(r'\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$', line)
            if m: frames.append((m.group(1), m.group(2)))
        else:
            flush()
    flush()
    return n

if __name__ == '__main__':
    totals = collections.Counter(); kinds = collections.Counter(); n = 0
    for f in sys.argv[1:]:
        n += run(f, totals, kinds)
    print('samples', n)
    for c, v in totals.most_common():
        print(f'{v/n*100:6.2f}%  {v:7d}  {c}')
    if True:  # the top leaves, to check the classification
        print('--- top leaves')
        for (c, s), v in kinds.most_common(45):
            print(f'{v/n*100:6.2f}%  {c[:30]:30}  {s}')
