#!/usr/bin/env python3
"""Slow-header clients from one address take every connection slot while a
probe from another address fetches a page ten times a second.

    slowloris.py PORT ATTACKERS SECONDS [TRICKLE_S]

ATTACKERS connections from 127.0.0.2 each send a request line and then one
header line every TRICKLE_S seconds (1), never ending the head, and
reconnect 0.2 s after the server closes them, so every slot stays taken.
After the attackers are in, a probe from 127.0.0.1 opens a new connection
and GETs / every 100 ms for SECONDS. Prints the probe's figures and exits
1 if any probe request failed or p99 is 50 ms or more. Bounded: the whole
run ends within SECONDS + 15 s. Talks only to 127.0.0.0/8."""
import asyncio
import socket
import sys
import threading
import time

port, attackers, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
trickle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
stats = {"opened": 0, "closed_by_server": 0, "connect_failed": 0}


async def attacker(stop):
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.2)
            continue
        stats["opened"] += 1
        try:
            w.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
            await w.drain()
            i = 0
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(r.read(1024), trickle)
                    if not data:
                        break   # closed by the server
                except asyncio.TimeoutError:
                    pass
                w.write(b"X-%d: a\r\n" % i)
                i += 1
                await w.drain()
        except (ConnectionError, OSError):
            pass
        stats["closed_by_server"] += 1
        w.close()
        await asyncio.sleep(0.2)


def probe(results, start_evt):
    start_evt.wait()
    t_end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=("127.0.0.1", 0))
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            s.close()
            ok = buf.startswith(b"HTTP/1.1 200")
            results.append((time.monotonic() - t0, ok, buf[:40]))
        except OSError as e:
            results.append((time.monotonic() - t0, False, repr(e).encode()))
        nxt += 0.1
        time.sleep(max(0.0, nxt - time.monotonic()))


async def main():
    stop = asyncio.Event()
    tasks = [asyncio.create_task(attacker(stop)) for _ in range(attackers)]
    await asyncio.sleep(2.0)   # every slot taken
    results = []
    start_evt = threading.Event()
    th = threading.Thread(target=probe, args=(results, start_evt))
    th.start()
    start_evt.set()
    while th.is_alive():
        await asyncio.sleep(0.1)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = sorted(r[0] for r in results)
    fails = [r for r in results if not r[1]]
    n = len(lat)
    p50 = lat[n // 2] * 1000
    p99 = lat[min(n - 1, int(n * 0.99))] * 1000
    print(f"probe requests={n} failed={len(fails)} p50_ms={p50:.1f} p99_ms={p99:.1f} "
          f"max_ms={lat[-1] * 1000:.1f} attacker_connections={stats['opened']} "
          f"attacker_closed={stats['closed_by_server']}")
    if fails:
        print(f"FAIL: first failure: {fails[0]}", file=sys.stderr)
        return 1
    if n < seconds * 10 * 0.8:
        print(f"FAIL: only {n} probe requests in {seconds} s", file=sys.stderr)
        return 1
    if p99 >= 50:
        print(f"FAIL: p99 {p99:.1f} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(), seconds + 15)))
    except asyncio.TimeoutError:
        print("FAIL: did not finish in time", file=sys.stderr)
        sys.exit(1)
