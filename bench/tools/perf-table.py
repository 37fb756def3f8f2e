#!/usr/bin/env python3
"""Turns two perf-attrib.py outputs (the hub's, the bare server's) into the
markdown table of CPU per paced reading by component, in µs per reading: each
component's share of the samples times the window's process CPU per reading
(cpuUsPerMsg, from the hub benchmark's report of the same windows).

usage: python3 bench/tools/perf-table.py hub.txt bare.txt HUB_CPU_US_PER_MSG BARE_CPU_US_PER_MSG
See docs/benchmarks.md, "Where the hub's CPU per paced reading goes"."""
import sys,re
def load(path):
    d={}
    for line in open(path):
        m=re.match(r'\s*([0-9.]+)%\s+(\d+)\s+(.*)$',line)
        if m: d[m.group(3).strip()]=float(m.group(1))
        if line.startswith('---'): break
    return d
groups=[('reply writes: ws.send → TLS → write()',['reply writes (ws.send, TLS, write syscall)']),
('frame receive: read() → TLS → ws receiver',['frame receive (read syscall, TLS, ws receiver)','node streams/net/tls JS','OpenSSL (TLS records)','kernel: socket read']),
('JSON.parse of the frame',['JSON.parse']),
('validation (parseFrame / parseTelemetry)',['hub: validation (parseFrame/parseTelemetry)']),
('session (#onMessage, readings, promise glue)',['hub: session (#onMessage etc.)']),
('rate limiter + quota',['hub: rate limiter + quota']),
('store: append, group commit, device state, history index',['hub: store (append, group commit, state)']),
('store: JSON.stringify of the data',['JSON.stringify']),
('store: pwrite (O_DSYNC) in the kernel',['kernel: disk write','kernel: futex']),
('acks: tracker, coalescing (sending is under reply writes)',['hub: acks (tracker, coalescing, send)']),
('metrics / live feed / logging / heartbeat timers',['hub: metrics','hub: live feed','hub: logging','hub: listener/heartbeat','timers']),
('GC (scavenges, marking; all threads)',['GC']),
('page faults (fresh new-space pages, malloc)',['page faults']),
('other native: malloc/free, V8 runtime, JIT',['other native (node/v8 runtime)']),
('event loop: libuv, epoll, irq/sched',['libuv','kernel: epoll','kernel: irq/softirq/sched']),
]
h=load(sys.argv[1]); b=load(sys.argv[2]); hu=float(sys.argv[3]); bu=float(sys.argv[4])
seen=set(x for _,l in groups for x in l)
rest_h=sum(v for k,v in h.items() if k not in seen); rest_b=sum(v for k,v in b.items() if k not in seen)
print('| component | hub µs/reading | hub share | bare µs/reading | bare share | hub − bare µs |')
print('|---|---:|---:|---:|---:|---:|')
th=tb=0
for name,keys in groups+[('other syscalls',None)]:
    sh=sum(h.get(k,0) for k in keys) if keys else rest_h
    sb=sum(b.get(k,0) for k in keys) if keys else rest_b
    th+=sh; tb+=sb
    print(f'| {name} | {sh*hu/100:.2f} | {sh:.1f}% | {sb*bu/100:.2f} | {sb:.1f}% | {(sh*hu-sb*bu)/100:+.2f} |')
print(f'| **total (process CPU per reading)** | **{hu:.1f}** | {th:.0f}% | **{bu:.1f}** | {tb:.0f}% | **{hu-bu:+.1f}** |')
