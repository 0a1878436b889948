#!/usr/bin/env python3
"""Opens many keep-alive connections to prepd on loopback at once and checks
every request on every connection is answered, on the same connection.

    conns.py PORT CONNECTIONS ROUNDS DEADLINE_SECONDS [PATH]

All connections are opened first and held open together; then, ROUNDS
times, every connection sends one request at the same moment and reads the
answer, so CONNECTIONS requests are ready on the server at once. Exits 1
with the reason if any request fails, a connection is closed, or the whole
run takes longer than the deadline (a stall). Talks only to 127.0.0.1."""
import asyncio
import resource
import sys
import time


async def one_round(reader, writer, path):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        raise RuntimeError(f"status line {lines[0]!r}")
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.lower() == "content-length":
            length = int(v)
        if k.lower() == "connection" and "close" in v.lower():
            raise RuntimeError("server sent Connection: close (keep-alive lost)")
    await reader.readexactly(length)


async def main():
    port, n, rounds, deadline = (int(a) for a in sys.argv[1:5])
    path = sys.argv[5] if len(sys.argv) > 5 else "/tiny.txt"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    start = time.monotonic()
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                   for _ in range(n)))
    opened = time.monotonic()
    for r in range(rounds):
        barrier = [one_round(rd, wr, path) for rd, wr in conns]
        await asyncio.gather(*barrier)
    done = time.monotonic()
    for _, wr in conns:
        wr.close()
    total = n * rounds
    print(f"connections={n} rounds={rounds} requests={total} "
          f"open_s={opened - start:.2f} run_s={done - opened:.2f} "
          f"req_per_s={total / max(done - opened, 1e-6):.0f}")


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), float(sys.argv[4])))
    except asyncio.TimeoutError:
        print(f"FAIL: not finished within {sys.argv[4]} s (stalled)", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - report any failure plainly
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
