#!/usr/bin/env python3
"""A raw-socket battery of hostile and unusual HTTP/1.1 request heads.

    rawhttp.py check PORT [TLSPORT]   every case against prepd; exits 1 if
                              an answer breaks RFC 9110/9112 as prepd reads
                              them, saying which and why
    rawhttp.py record PORT [TLSPORT]  the same cases against another server
                              (nginx): prints one line per case, checks nothing
TLSPORT is the server's HTTPS port, for the cases sent there (skipped
without it).

Each case sends exact bytes (or pieces of them with pauses between, to
catch a server that judges a connection by its first read) on a fresh connection to 127.0.0.1 and reads
every response that comes back until the server closes the connection or
stays quiet for QUIET seconds. A case states the status of the first
response, whether the server must close the connection after it, how many
responses may come (a pipelined request after a refused one must never be
answered: it may be a smuggled request), and header or body checks.
Expectations come from RFC 9110/9112, not from prepd's code; where
libmicrohttpd 0.9.75 answers before prepd sees the request and cannot be
fixed (docs/security.md), the case says so in `mhd` and checks only what
must hold anyway (an answer or a close, at once, nothing smuggled)."""
import socket
import sys
import time

QUIET = 0.6        # seconds of silence that end a read on an open connection
AT_ONCE = 2.0      # an answer slower than this waited for a timeout
HOST = b"Host: t\r\n"


def req(line, *headers, body=b"", host=True):
    h = b"".join(x + b"\r\n" for x in headers)
    return line + b"\r\n" + (HOST if host else b"") + h + b"\r\n" + body


GET_TINY = req(b"GET /tiny.txt HTTP/1.1")
# A realistic heavy Cookie: 60 cookies of ~120 bytes, ~7.5 KB.
COOKIE_7K = b"Cookie: " + b"; ".join(b"c%02d=%s" % (i, b"v" * 118) for i in range(60))
# A TLS 1.2 ClientHello record header and the start of its handshake.
# No LF byte in it, as in most real ones: no "line" ever ends.
# A browser's head at its heaviest: the usual lines of a navigation, and
# 180 cookies (the most Chrome keeps for one site) filling most of the
# 8 KiB line cap. libmicrohttpd 0.9.75 keeps a record per cookie in the
# connection's memory (server/limits.h NET_CONN_MEMORY_BYTES).
BROWSER_LINES = [
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36",
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    b"image/webp,image/apng,*/*;q=0.8",
    b"Accept-Language: es-MX,es;q=0.9,en;q=0.8",
    b"Accept-Encoding: gzip, deflate, br, zstd",
    b"Referer: https://www.example.com.mx/elecciones/resultados/?utm_source=portada",
    b'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"',
    b"sec-ch-ua-mobile: ?0", b'sec-ch-ua-platform: "Linux"',
    b"Sec-Fetch-Dest: document", b"Sec-Fetch-Mode: navigate",
    b"Sec-Fetch-Site: same-origin", b"Upgrade-Insecure-Requests: 1",
]
COOKIE_180 = b"Cookie: " + b"; ".join(b"k%03d=%s" % (i, b"v" * 36) for i in range(180))
# A head at the 16 KiB cap: 98 lines of ~165 bytes.
HEAD_16K_LINES = [b"X-L%02d: %s" % (i, b"a" * 157) for i in range(98)]
CLIENT_HELLO = (bytes.fromhex("16030100c4010000c00303") + bytes(range(11, 43)) +
                b"\x00\x00\x02\x13\x01\x01\x00")

# name, bytes (or a list of bytes and pauses in seconds), expectation.
# Expectation keys: status (int or tuple), close (True: must close; False:
# must stay open), responses (exact count), statuses (every response's, in
# order), has/hasnt (header names),
# eq (header: value), body (bytes in body), nobody (an empty body), tls
# (sent to the HTTPS port), mhd (the reason libmicrohttpd answers it,
# docs/security.md).
CASES = [
    ("plain GET", GET_TINY, dict(status=200, close=False, responses=1, body=b"hola mundo")),
    ("Accept-Encoding element ending in ';'",
     req(b"GET /index.html HTTP/1.1", b"Accept-Encoding: identity;", b"Gzip: x"),
     dict(status=200, close=False, hasnt=["Content-Encoding"])),
    ("Accept-Encoding 'identity;' then bare LF and a header 'X,gzip'",
     b"GET /index.html HTTP/1.1\nHost: t\nAccept-Encoding: identity;\nX,gzip: 1\n\n",
     dict(status=400, close=True, responses=1, hasnt=["Content-Encoding"])),
    ("Content-Length with Transfer-Encoding (smuggling)",
     req(b"POST / HTTP/1.1", b"Content-Length: 4", b"Transfer-Encoding: chunked",
         body=b"0\r\n\r\n" + GET_TINY),
     dict(status=400, close=True, responses=1)),
    ("GET with Content-Length and Transfer-Encoding",
     req(b"GET /tiny.txt HTTP/1.1", b"Transfer-Encoding: chunked", b"Content-Length: 0",
         body=b"0\r\n\r\n" + GET_TINY),
     dict(status=400, close=True, responses=1)),
    ("two different Content-Length values",
     req(b"GET /tiny.txt HTTP/1.1", b"Content-Length: 0", b"Content-Length: 5", body=b"hello"),
     dict(status=400, close=True, responses=1)),
    ("Content-Length : 5 (space before the colon)",
     req(b"GET /tiny.txt HTTP/1.1", b"Content-Length : 5", body=GET_TINY),
     dict(status=400, close=True, responses=1)),
    ("tab before the colon", req(b"GET /tiny.txt HTTP/1.1", b"X-A\t: 1"),
     dict(status=400, close=True, responses=1)),
    ("Transfer-Encoding: xchunked (unknown coding)",
     req(b"POST / HTTP/1.1", b"Transfer-Encoding: xchunked",
         body=b"5\r\nhello\r\n0\r\n\r\n" + GET_TINY),
     dict(status=501, close=True, responses=1)),
    ("Transfer-Encoding: chunked, identity (chunked not final)",
     req(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked, identity",
         body=b"5\r\nhello\r\n0\r\n\r\n" + GET_TINY),
     dict(status=400, close=True, responses=1)),
    ("Transfer-Encoding on two lines, chunked then gzip",
     req(b"GET /tiny.txt HTTP/1.1", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
         body=b"0\r\n\r\n" + GET_TINY),
     dict(status=400, close=True, responses=1)),
    ("Transfer-Encoding in HTTP/1.0",
     b"GET /tiny.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     dict(status=400, close=True, responses=1)),
    ("overflowing Content-Length",
     req(b"GET /tiny.txt HTTP/1.1", b"Content-Length: 99999999999999999999999"),
     dict(status=413, close=True, mhd="Content-Length parsed before the handler; "
          "0.9.75 writes its 413 header block twice")),
    ("Content-Length: abc",
     req(b"GET /tiny.txt HTTP/1.1", b"Content-Length: abc"),
     dict(status=400, close=True, mhd="Content-Length parsed before the handler; "
          "0.9.75 writes its 400 header block twice")),
    ("missing Host on HTTP/1.1", req(b"GET /tiny.txt HTTP/1.1", host=False),
     dict(status=400, close=True, responses=1)),
    ("two Host headers", req(b"GET /tiny.txt HTTP/1.1", b"Host: u"),
     dict(status=400, close=True, responses=1)),
    ("empty Host", req(b"GET /tiny.txt HTTP/1.1", b"Host:", host=False),
     dict(status=400, close=True, responses=1)),
    ("Host with a path", req(b"GET /tiny.txt HTTP/1.1", b"Host: a/b", host=False),
     dict(status=400, close=True, responses=1)),
    ("trailing whitespace after values (RFC 9110 5.5)",
     b"GET /tiny.txt HTTP/1.1\r\nHost: t \t\r\nX-A: b  \r\nX-B:\r\n\r\n",
     dict(status=200, close=False, body=b"hola mundo")),
    ("bare LF line ends (RFC 9112 2.2)", b"GET /tiny.txt HTTP/1.1\nHost: t\n\n",
     dict(status=200, close=False, body=b"hola mundo")),
    ("HTTP/1.0 without Host", b"GET /tiny.txt HTTP/1.0\r\n\r\n",
     dict(status=200, close=True, body=b"hola mundo")),
    ("NUL in a header value", req(b"GET /tiny.txt HTTP/1.1", b"X-A: a\x00b"),
     dict(status=400, close=True, responses=1)),
    ("NUL at the end of a header value", req(b"GET /tiny.txt HTTP/1.1", b"X-A: a\x00"),
     dict(status=400, close=True, responses=1)),
    ("lone CR in a header value", req(b"GET /tiny.txt HTTP/1.1", b"X-A: a\rb"),
     dict(status=400, close=True, responses=1)),
    ("folded header line (obs-fold)", req(b"GET /tiny.txt HTTP/1.1", b"X-A: a", b" b"),
     dict(status=400, close=True, responses=1)),
    ("space inside the request target", req(b"GET /tiny.txt HTTP/1.1 200 x HTTP/1.1"),
     dict(status=400, close=True, responses=1)),
    ("space inside the query", req(b"GET /tiny.txt?a b HTTP/1.1"),
     dict(status=400, close=True, responses=1)),
    ("absolute-form target", req(b"GET http://t/tiny.txt HTTP/1.1"),
     dict(status=200, close=False, body=b"hola mundo")),
    ("absolute-form target, Host differs", req(b"GET http://prep.example:80/tiny.txt HTTP/1.1"),
     dict(status=200, close=False, body=b"hola mundo")),
    ("absolute-form target with userinfo", req(b"GET http://u@t/tiny.txt HTTP/1.1"),
     dict(status=400)),
    ("304 carries no wrong Content-Length", None, dict(status=304, close=False)),
    ("If-Match that fails", req(b"GET /tiny.txt HTTP/1.1", b'If-Match: "nope"'),
     dict(status=412, close=False, has=["X-PREP-Cut"])),
    ("If-Match: *", req(b"GET /tiny.txt HTTP/1.1", b"If-Match: *"), dict(status=200)),
    ("If-Unmodified-Since in the past",
     req(b"GET /tiny.txt HTTP/1.1", b"If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"),
     dict(status=412, close=False)),
    ("If-Unmodified-Since in the future",
     req(b"GET /tiny.txt HTTP/1.1", b"If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT"),
     dict(status=200)),
    ("a realistic 7.5 KB Cookie", req(b"GET /tiny.txt HTTP/1.1", COOKIE_7K),
     dict(status=200, close=False, body=b"hola mundo")),
    ("a browser's head with 180 cookies (Chrome's most for one site)",
     req(b"GET /tiny.txt HTTP/1.1", *BROWSER_LINES, COOKIE_180),
     dict(status=200, close=False, body=b"hola mundo")),
    ("the same head as a connection's second request",
     GET_TINY + req(b"GET /tiny.txt HTTP/1.1", *BROWSER_LINES, COOKIE_180),
     dict(status=200, statuses=(200, 200), close=False, responses=2, body=b"hola mundo")),
    ("a 16 KB head of 98 lines (at the cap)", req(b"GET /tiny.txt HTTP/1.1", *HEAD_16K_LINES),
     dict(status=200, close=False, body=b"hola mundo")),
    ("a 9 KB Cookie line", req(b"GET /tiny.txt HTTP/1.1", b"Cookie: a=" + b"b" * 9000),
     dict(status=431, close=True, has=["X-PREP-Cut", "X-Content-Type-Options",
                                       "Content-Security-Policy"], body=b"431")),
    ("a 16 KB header", req(b"GET /tiny.txt HTTP/1.1", b"X-A: " + b"a" * 16000),
     dict(status=431, close=True, has=["X-PREP-Cut"], body=b"431")),
    ("a 17 KB head of 3 KB lines",
     req(b"GET /tiny.txt HTTP/1.1", *[b"X-%d: %s" % (i, b"a" * 3000) for i in range(6)]),
     dict(status=431, close=True, has=["X-PREP-Cut"], body=b"431")),
    ("150 header lines", req(b"GET /tiny.txt HTTP/1.1", *[b"X-%d: 1" % i for i in range(150)]),
     dict(status=431, close=True, has=["X-PREP-Cut"])),
    ("folder redirect keeps the query", req(b"GET /estados/Nuevo%20Le%C3%B3n?x=1&y=a+b HTTP/1.1"),
     dict(status=301, close=False,
          eq=("Location", b"/estados/Nuevo%20Le%C3%B3n/?x=1&y=a+b"))),
    # The opening of a connection, judged before libmicrohttpd reads it
    # (server/sniff.h): 0.9.75 would wait for a line end, close without
    # an answer, or answer without prepd's headers.
    ("TLS ClientHello on the HTTP port", CLIENT_HELLO,
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"], body=b"https://")),
    ("TLS ClientHello, its first byte alone first", [CLIENT_HELLO[:1], 0.3, CLIENT_HELLO[1:]],
     dict(status=400, close=True, responses=1, body=b"https://")),
    ("TLS ClientHello after an empty line", b"\r\n" + CLIENT_HELLO,
     dict(status=400, close=True, responses=1, body=b"https://")),
    ("bytes that are not HTTP", b"\x00\x01\x02\x03\r\n\r\n",
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"])),
    ("an SSH client's banner", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
     dict(status=400, close=True, responses=1)),
    ("nothing for 0.5 s, then a GET", [0.5, GET_TINY],
     dict(status=200, close=False, responses=1, body=b"hola mundo")),
    ("the request line in two pieces", [b"GET /tiny.txt HT", 0.3, b"TP/1.1\r\nHost: t\r\n\r\n"],
     dict(status=200, close=False, responses=1, body=b"hola mundo")),
    ("an empty line before the request line (RFC 9112 2.2)", b"\r\n" + GET_TINY,
     dict(status=200, close=False, responses=1, body=b"hola mundo")),
    ("bare 'GET /' line (HTTP/0.9)", b"GET /\r\n",
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"], body=b"HTTP/0.9")),
    ("bare 'GET' line", b"GET\r\n",
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"])),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\n\r\n",
     dict(status=505, close=True, responses=1, has=["X-PREP-Cut", "Content-Security-Policy"])),
    ("HTTP/2 prior-knowledge preface (h2c)", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
     dict(status=505, close=True, responses=1)),
    ("HEAD with HTTP/3.0 (505, no body)", b"HEAD / HTTP/3.0\r\n\r\n",
     dict(status=505, close=True, responses=1, nobody=True)),
    ("HTTP/0.9 as a version", b"GET / HTTP/0.9\r\n\r\n",
     dict(status=505, close=True, responses=1, has=["X-PREP-Cut"])),
    ("lowercase version 'http/1.1'", req(b"GET /tiny.txt http/1.1"),
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"])),
    ("space after the version", req(b"GET /tiny.txt HTTP/1.1 "),
     dict(status=400, close=True, responses=1, has=["X-PREP-Cut"])),
    ("HTTP/1.9 is read as 1.1 (RFC 9112 2.3)", req(b"GET /tiny.txt HTTP/1.9"),
     dict(status=200, close=False, body=b"hola mundo")),
    ("HTTP/2.0 on the second request of a connection", GET_TINY + b"GET / HTTP/2.0\r\n\r\n",
     dict(status=200, responses=2, close=True,
          mhd="only a connection's first request line is judged before 0.9.75 reads it")),
    ("plain HTTP on the HTTPS port", req(b"GET /tiny.txt HTTP/1.1"),
     dict(tls=True, status=400, close=True, responses=1, has=["X-PREP-Cut"], body=b"https://")),
    ("POST with a 10 MB body (only the head sent)",
     req(b"POST /tiny.txt HTTP/1.1", b"Content-Length: 10000000"),
     dict(status=405, close=True, responses=1, eq=("Allow", b"GET, HEAD"))),
    ("GET with a body", req(b"GET /tiny.txt HTTP/1.1", b"Content-Length: 5", body=b"hello"),
     dict(status=413, close=True, responses=1)),
    ("chunked POST with Expect: 100-continue",
     req(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked", b"Expect: 100-continue"),
     dict(status=405, close=True, responses=1)),
    ("pipelined GETs stay answered", GET_TINY + GET_TINY,
     dict(status=200, close=False, responses=2)),
]


def parse(buf, head_req):
    """Splits buf into responses: [(status, [(name, value)], body)], rest."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        lines = buf[:end].split(b"\r\n")
        try:
            status = int(lines[0].split(b" ")[1])
        except (IndexError, ValueError):
            return out, buf
        hdrs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs.append((k.decode("latin-1").lower(), v.strip()))
        rest = buf[end + 4:]
        cl = [v for k, v in hdrs if k == "content-length"]
        if status in (204, 304) or head_req or 100 <= status < 200:
            n = 0
        elif cl:
            n = int(cl[0])
        else:
            n = len(rest)
        out.append((status, hdrs, rest[:n]))
        buf = rest[n:]
        if status == 100:
            continue


def exchange(port, data, head_req=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    for piece in data if isinstance(data, list) else [data]:
        if isinstance(piece, float):
            time.sleep(piece)
        else:
            s.sendall(piece)
    t0 = time.monotonic()
    first = None
    buf = b""
    closed = False
    s.settimeout(QUIET)
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            if buf or time.monotonic() - t0 > AT_ONCE + 1:
                break
            continue
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        if first is None:
            first = time.monotonic() - t0
        buf += d
    s.close()
    resps, rest = parse(buf, head_req)
    return resps, rest, closed, first if first is not None else time.monotonic() - t0


def etag_of(port):
    resps, _, _, _ = exchange(port, GET_TINY)
    return dict(resps[0][1]).get("etag", b"")


def summary(resps, rest, closed):
    st = ",".join(str(r[0]) for r in resps) or "-"
    extra = f" +{len(rest)}B unparsed" if rest else ""
    return f"{st}{' close' if closed else ' open'}{extra}"


def run(port, tls_port, check):
    failures = 0
    n = 0
    for name, data, exp in CASES:
        if data is None:   # the 304 case needs the ETag first
            data = req(b"GET /tiny.txt HTTP/1.1", b"If-None-Match: " + etag_of(port))
        if exp.get("tls") and not tls_port:
            print(f"{name} => n/a => no HTTPS port" if not check else
                  f"ok {n + 1} - {name} # SKIP no HTTPS port")
            n += 1
            continue
        resps, rest, closed, took = exchange(tls_port if exp.get("tls") else port, data)
        line = f"{name} => {summary(resps, rest, closed)} => {took:.2f}s"
        if not check:
            print(line)
            continue
        why = None
        st = exp.get("status")
        if st is not None and (not resps or resps[0][0] not in (st if isinstance(st, tuple) else (st,))):
            why = f"status {resps[0][0] if resps else 'none'}, want {st}"
        elif "close" in exp and closed != exp["close"]:
            why = "connection " + ("closed" if closed else "left open")
        elif "responses" in exp and len(resps) != exp["responses"]:
            why = f"{len(resps)} responses, want {exp['responses']} (a swallowed or smuggled request)"
        elif "statuses" in exp and tuple(r[0] for r in resps) != exp["statuses"]:
            why = f"statuses {tuple(r[0] for r in resps)}, want {exp['statuses']}"
        elif took > AT_ONCE and (resps or closed):
            why = f"answered after {took:.1f}s, not at once"
        elif resps:
            _, hdrs, body = resps[0]
            names = [k for k, _ in hdrs]
            for h in exp.get("has", []):
                if h.lower() not in names:
                    why = f"no {h} header"
            for h in exp.get("hasnt", []):
                if h.lower() in names:
                    why = f"has a {h} header"
            if "eq" in exp and dict(hdrs).get(exp["eq"][0].lower()) != exp["eq"][1]:
                why = f"{exp['eq'][0]}: {dict(hdrs).get(exp['eq'][0].lower())!r}, want {exp['eq'][1]!r}"
            if "body" in exp and exp["body"] not in body:
                why = f"body {body[:80]!r} lacks {exp['body']!r}"
            if exp.get("nobody") and (body or rest):
                why = f"a body {(body or rest)[:80]!r} on a HEAD"
            if names.count("content-length") > 1 or names.count("date") > 1 and "mhd" not in exp:
                why = "a header block repeats"
            if resps[0][0] == 304:
                cl = dict(hdrs).get("content-length")
                plain = exchange(port, GET_TINY)[0][0]
                if cl is not None and int(cl) != len(plain[2]):
                    why = f"304 Content-Length {cl}, the 200 has {len(plain[2])} bytes (RFC 9110 8.6)"
            if "mhd" not in exp and resps[0][0] >= 400 and "x-prep-cut" not in names:
                why = "an error without X-PREP-Cut (built by libmicrohttpd?)"
        elif st is not None:
            why = "no response"
        n += 1
        if why and "mhd" in exp:
            print(f"ok {n} - {name} => {summary(resps, rest, closed)}: {why} "
                  f"(known, libmicrohttpd 0.9.75: {exp['mhd']})")
        elif why:
            print(f"FAIL: {name}: {why} [{summary(resps, rest, closed)}]", file=sys.stderr)
            failures += 1
        else:
            note = f" (libmicrohttpd: {exp['mhd']})" if "mhd" in exp else ""
            print(f"ok {n} - {name} => {summary(resps, rest, closed)}{note}")
    return failures


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    tls_port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else 0
    failures = run(port, tls_port, mode == "check")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
