#!/usr/bin/env python3
"""A loopback HTTPS (or plain HTTP) file server standing in for the electoral
institute's server, for prepd's upstream-polling tests. Python 3.11 stdlib only.

usage: upstream.py --root DIR (--cert server.pem --key server-key.pem | --plain)
                   [--ca ca.pem [--require-client-cert]] [--tls-max 1.1|1.2|1.3]
                   [--auth-basic USER:PASS] [--auth-bearer TOKEN]
                   [--port 0] [--lifetime 300] --ready FILE

Binds 127.0.0.1 only. When it is ready it writes the port it listens on to
FILE (FILE.tmp, then a rename, so a reader never sees half a number). It
exits by itself after --lifetime seconds (default 300), and on SIGTERM or
SIGINT, with status 0.

TLS: minimum TLS 1.2 by default. --tls-max 1.1 allows only TLS 1.0 and 1.1
(ciphers "DEFAULT:@SECLEVEL=0", as OpenSSL 3 refuses them otherwise). --ca
asks clients for a certificate and checks it against that CA;
--require-client-cert makes one mandatory. --plain serves plain HTTP.

Files: GET/HEAD /PATH serves DIR/PATH with a strong ETag (the first 16 hex
digits of the SHA-256 of the bytes, quoted), Last-Modified (file mtime),
Content-Length and Content-Type (text/plain for .txt and .sha256, else
application/octet-stream). If-None-Match that matches -> 304; if there is no
If-None-Match, If-Modified-Since at or after the mtime -> 304 (RFC 9110
13.2.2: If-Modified-Since is ignored when If-None-Match is present). A
missing file, a folder, or a path leaving DIR -> 404. The query is ignored.

Auth: with --auth-basic and/or --auth-bearer, every request except those to
/_control needs a matching Authorization header (either kind when both are
set), or gets 401 with WWW-Authenticate.

Control (no auth; these requests are not faulted and not in the log):
  POST /_control with a JSON object:
    {"fault": "500", "count": 2, "retry_after": 1}  500 (+ Retry-After)
    {"fault": "503", "count": 1}                     503 (retry_after too)
    {"fault": "stall", "count": 1, "seconds": 120}   headers with the full
        Content-Length and the first 1 KiB of the body, then nothing for
        "seconds" (default 120) or until the client closes; then close
    {"fault": "truncate", "count": 1}                full Content-Length, half
        the body, then close
    {"fault": "chunked-truncate", "count": 1}        chunked, cut mid-chunk
    {"fault": "oversize", "count": 1, "bytes": N, "mode": "chunked"|"close"}
        N zero bytes with no Content-Length (chunked by default; "close":
        close-delimited), whatever the path, even a missing file
    {"fault": "slow", "count": 1, "bytes_per_second": 100}
    {"fault": "none"}                                clears every fault
    {"clear_log": true}                              empties the log (may be
        combined with a fault)
  Optional in any fault: "path": "/x" applies it only to GETs of that path.
  count defaults to 1. Each POST appends to a queue: the next GET (HEAD is
  never faulted) takes the first fault whose path fits, and a fault goes
  away after "count" uses, so a night can be scripted as a sequence. A GET
  that is answered 401, or 304, or (for the faults that need the file) 404,
  uses no fault. Answers 200 {"ok": true}; bad JSON or an unknown fault: 400.
  GET /_control/log: JSON list, one object per request seen so far, in
  order: {"method", "path", "if_none_match", "if_modified_since",
  "authorization", "status", "fault", "client_cert", "time"} (null where
  absent; client_cert is the subject, e.g. "O=prepd tests,CN=prepd test
  client").

One line per request on stderr. Talks only to 127.0.0.1.
"""
import argparse
import base64
import email.utils
import hashlib
import http.server
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import warnings

CONTROL = "/_control"
FAULTS = ("500", "503", "stall", "truncate", "chunked-truncate", "oversize",
          "slow", "none")
NEEDS_FILE = ("stall", "truncate", "chunked-truncate", "slow")
SHORT = {"commonName": "CN", "organizationName": "O",
         "organizationalUnitName": "OU", "countryName": "C",
         "localityName": "L", "stateOrProvinceName": "ST",
         "emailAddress": "emailAddress"}


def note(msg):
    print(f"upstream: {msg}", file=sys.stderr, flush=True)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []   # dicts, each with "fault", "left", optional "path"
        self.log = []

    def add(self, spec):
        with self.lock:
            if spec.get("clear_log"):
                self.log.clear()
            if "fault" not in spec:
                return
            if spec["fault"] == "none":
                self.faults.clear()
                return
            f = dict(spec)
            f["left"] = int(spec.get("count", 1))
            if f["left"] > 0:
                self.faults.append(f)

    def take(self, path, has_file):
        with self.lock:
            for f in self.faults:
                if f.get("path") not in (None, path):
                    continue
                if f["fault"] in NEEDS_FILE and not has_file:
                    return None
                f["left"] -= 1
                if f["left"] <= 0:
                    self.faults.remove(f)
                return f
            return None

    def peek(self, path):
        with self.lock:
            for f in self.faults:
                if f.get("path") in (None, path):
                    return f
            return None

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def dump(self):
        with self.lock:
            return json.dumps(self.log).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "prepd-test-upstream/1"
    timeout = 30   # idle keep-alive connections go away after this

    # --- logging: exactly one line per request, written by self.done()
    def log_request(self, code="-", size="-"):
        pass

    def log_error(self, fmt, *args):
        note(f"{self.client_address[0]} error: " + (fmt % args))

    def done(self, status, fault=None, extra=""):
        h = self.headers
        entry = {
            "method": self.command,
            "path": self.path,
            "if_none_match": h.get("If-None-Match"),
            "if_modified_since": h.get("If-Modified-Since"),
            "authorization": h.get("Authorization"),
            "status": status,
            "fault": fault,
            "client_cert": self.server.peer_subject(self.connection),
            "time": time.time(),
        }
        if not self.path.startswith(CONTROL):
            self.server.state.record(entry)
        parts = [f"{self.command} {self.path} {status}"]
        if fault:
            parts.append(f"fault={fault}")
        for key, name in (("if_none_match", "inm"), ("if_modified_since", "ims")):
            if entry[key]:
                parts.append(f"{name}={entry[key]!r}")
        if entry["authorization"]:
            parts.append("auth=" + entry["authorization"].split(" ", 1)[0])
        if entry["client_cert"]:
            parts.append(f"cert={entry['client_cert']!r}")
        if isinstance(self.connection, ssl.SSLSocket):
            parts.append(f"tls={self.connection.version()}")
        if extra:
            parts.append(extra)
        note(" ".join(parts))

    # --- small helpers
    def send_simple(self, status, body, ctype="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj):
        self.send_simple(status, json.dumps(obj).encode() + b"\n",
                         "application/json")

    def write(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def hard_close(self):
        """Ends the connection at once, with no TLS close_notify."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.server.abort(self.connection)

    # --- dispatch
    def do_POST(self):
        if self.url_path() != CONTROL:
            self.read_body()
            self.send_simple(405, b"method not allowed\n",
                             headers=[("Allow", "GET, HEAD")])
            self.done(405)
            return
        try:
            spec = json.loads(self.read_body() or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("body is not a JSON object")
            if "fault" in spec and str(spec["fault"]) not in FAULTS:
                raise ValueError(f"unknown fault {spec['fault']!r}")
            if "fault" in spec:
                spec["fault"] = str(spec["fault"])
            int(spec.get("count", 1))
        except (ValueError, TypeError) as e:
            self.send_json(400, {"ok": False, "error": str(e)})
            self.done(400)
            return
        self.server.state.add(spec)
        self.send_json(200, {"ok": True})
        self.done(200, extra=json.dumps(spec))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.url_path()
        if path == CONTROL + "/log" and self.command == "GET":
            self.send_simple(200, self.server.state.dump(), "application/json")
            self.done(200)
            return
        if path.startswith(CONTROL):
            self.send_simple(404, b"not found\n")
            self.done(404)
            return
        if not self.authorized():
            challenges = []
            if self.server.auth_basic:
                challenges.append(("WWW-Authenticate",
                                   'Basic realm="upstream", charset="UTF-8"'))
            if self.server.auth_bearer:
                challenges.append(("WWW-Authenticate", 'Bearer realm="upstream"'))
            self.send_simple(401, b"unauthorized\n", headers=challenges)
            self.done(401)
            return

        fs = self.file_for(path)
        data = mtime = None
        if fs is not None:
            try:
                with open(fs, "rb") as f:
                    data = f.read()
                mtime = os.stat(fs).st_mtime
            except OSError:
                data = None
        etag = None
        if data is not None:
            etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            if self.not_modified(etag, mtime):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", http_date(mtime))
                self.end_headers()
                self.done(304)
                return

        fault = None
        if self.command == "GET":
            fault = self.server.state.take(path, data is not None)
        kind = fault["fault"] if fault else None

        if kind in ("500", "503"):
            headers = []
            if fault.get("retry_after") is not None:
                headers.append(("Retry-After", str(fault["retry_after"])))
            self.send_simple(int(kind), f"injected {kind}\n".encode(),
                             headers=headers)
            self.done(int(kind), kind)
            return
        if kind == "oversize":
            self.oversize(fault)
            return
        if data is None:
            self.send_simple(404, b"not found\n")
            self.done(404)
            return

        ctype = ("text/plain" if path.endswith((".txt", ".sha256"))
                 else "application/octet-stream")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", http_date(mtime))
        if kind == "chunked-truncate":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.done(200, kind)
        if self.command == "HEAD":
            return
        if kind is None:
            self.wfile.write(data)
        elif kind == "truncate":
            self.write(data[:len(data) // 2])
            self.hard_close()
        elif kind == "chunked-truncate":
            first = data[:len(data) // 2]
            rest = data[len(data) // 2:]
            if first:
                self.write(b"%x\r\n" % len(first) + first + b"\r\n")
            # announce the rest as one chunk, send half of it, stop
            self.write(b"%x\r\n" % max(len(rest), 2) + rest[:len(rest) // 2])
            self.hard_close()
        elif kind == "stall":
            self.write(data[:min(1024, max(len(data) - 1, 0))])
            started = time.monotonic()
            why = self.stall(float(fault.get("seconds", 120)))
            note(f"{self.client_address[0]} stall of {self.path} ended after "
                 f"{time.monotonic() - started:.1f}s: {why}")
            self.hard_close()
        elif kind == "slow":
            self.slow(data, float(fault.get("bytes_per_second", 100)))

    # --- faults that need more than a line
    def oversize(self, fault):
        total = int(fault.get("bytes", 10 * 1024 * 1024))
        mode = fault.get("mode", "chunked")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.done(200, "oversize", f"bytes={total} mode={mode}")
        block = bytes(65536)
        left = total
        while left > 0:
            n = min(left, len(block))
            if mode == "close":
                self.wfile.write(block[:n])
            else:
                self.wfile.write(b"%x\r\n" % n + block[:n] + b"\r\n")
            left -= n
        if mode != "close":
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def slow(self, data, rate):
        rate = max(rate, 1.0)
        piece = max(1, int(rate / 10))
        start = time.monotonic()
        sent = 0
        while sent < len(data):
            self.write(data[sent:sent + piece])
            sent += len(data[sent:sent + piece])
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stall(self, seconds):
        """Sends nothing until the deadline or until the client closes."""
        sock = self.connection
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(min(0.5, left))
            try:
                if sock.recv(4096) == b"":
                    return "client closed"
            except (TimeoutError, socket.timeout):
                continue
            except ssl.SSLWantReadError:
                time.sleep(min(0.1, max(left, 0)))
            except OSError as e:   # ssl.SSLError is an OSError
                return f"client went away ({e.__class__.__name__})"
        return "time is up"

    # --- request details
    def url_path(self):
        return urllib.parse.urlsplit(self.path).path

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def authorized(self):
        basic, bearer = self.server.auth_basic, self.server.auth_bearer
        if not basic and not bearer:
            return True
        got = (self.headers.get("Authorization") or "").strip()
        scheme, _, cred = got.partition(" ")
        cred = cred.strip()
        if basic and scheme.lower() == "basic":
            try:
                if base64.b64decode(cred, validate=True).decode("utf-8") == basic:
                    return True
            except (ValueError, UnicodeDecodeError):
                return False
        if bearer and scheme.lower() == "bearer" and cred == bearer:
            return True
        return False

    def file_for(self, path):
        rel = urllib.parse.unquote(path).lstrip("/")
        if not rel or "\0" in rel:
            return None
        root = self.server.root
        full = os.path.realpath(os.path.join(root, rel))
        if os.path.commonpath([root, full]) != root or not os.path.isfile(full):
            return None
        return full

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            if inm.strip() == "*":
                return True
            tags = [t.strip() for t in inm.split(",")]
            # weak comparison, as RFC 9110 asks for If-None-Match
            return any(t.removeprefix("W/") == etag for t in tags)
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                when = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
            return int(mtime) <= when
        return False

    def handle(self):
        try:
            super().handle()
        except (TimeoutError, socket.timeout):
            self.close_connection = True
            note(f"{self.client_address[0]} connection timed out (idle or stuck)")
        except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            self.close_connection = True
            note(f"{self.client_address[0]} client went away "
                 f"({e.__class__.__name__})")
        except OSError as e:   # ssl.SSLError included
            self.close_connection = True
            note(f"{self.client_address[0]} connection ended: {e!r}")

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, ctx, root, state, auth_basic, auth_bearer):
        self.ctx = ctx
        self.root = os.path.realpath(root)
        self.state = state
        self.auth_basic = auth_basic
        self.auth_bearer = auth_bearer
        super().__init__(("127.0.0.1", port), Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's own thread, so a
        # client that never finishes it cannot hold up accept().
        request.settimeout(30)
        conn = request
        if self.ctx is not None:
            try:
                conn = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                note(f"{client_address[0]} TLS handshake failed: {e}")
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def abort(self, conn):
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def peer_subject(self, conn):
        if not isinstance(conn, ssl.SSLSocket):
            return None
        try:
            cert = conn.getpeercert()
        except (ValueError, OSError):
            return None
        if not cert or "subject" not in cert:
            return None
        return ",".join(f"{SHORT.get(k, k)}={v}"
                        for rdn in cert["subject"] for k, v in rdn)

    def handle_error(self, request, client_address):
        note(f"{client_address[0]} error: {sys.exc_info()[1]!r}")


VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
            "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def make_context(args):
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls_max in ("1.0", "1.1"):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = VERSIONS[args.tls_max]
        if not ssl.HAS_TLSv1_1:
            note(f"this Python's OpenSSL ({ssl.OPENSSL_VERSION}) has no TLS 1.1: "
                 "every handshake will fail")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.tls_max:
            ctx.maximum_version = VERSIONS[args.tls_max]
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = (ssl.CERT_REQUIRED if args.require_client_cert
                           else ssl.CERT_OPTIONAL)
    return ctx


def main():
    p = argparse.ArgumentParser(
        description="Loopback HTTPS file server with fault injection, for "
                    "prepd's upstream tests (see the module docstring).")
    p.add_argument("--root", required=True, help="folder to serve")
    p.add_argument("--cert", help="server certificate (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--plain", action="store_true", help="plain HTTP, no TLS")
    p.add_argument("--ca", help="CA (PEM) that client certificates must chain to")
    p.add_argument("--require-client-cert", action="store_true",
                   help="refuse clients without a certificate (needs --ca)")
    p.add_argument("--tls-max", choices=sorted(VERSIONS),
                   help="highest TLS version; 1.1 (or 1.0) also lowers the "
                        "minimum to 1.0")
    p.add_argument("--auth-basic", metavar="USER:PASS")
    p.add_argument("--auth-bearer", metavar="TOKEN")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--lifetime", type=float, default=300,
                   help="exit after this many seconds (default 300)")
    p.add_argument("--ready", required=True, metavar="FILE",
                   help="the port is written here once listening")
    args = p.parse_args()

    if args.plain:
        if args.ca or args.require_client_cert or args.tls_max:
            p.error("--ca, --require-client-cert and --tls-max need TLS")
        ctx = None
    else:
        if not (args.cert and args.key):
            p.error("--cert and --key are required (or --plain)")
        if args.require_client_cert and not args.ca:
            p.error("--require-client-cert needs --ca")
        ctx = make_context(args)
    if not os.path.isdir(args.root):
        p.error(f"--root {args.root}: not a folder")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    srv = Server(args.port, ctx, args.root, State(), args.auth_basic,
                 args.auth_bearer)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                     daemon=True).start()
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.ready)
    proto = "http" if ctx is None else "https"
    note(f"listening on {proto}://127.0.0.1:{port}/ root={srv.root} "
         f"lifetime={args.lifetime:g}s")

    deadline = time.monotonic() + args.lifetime
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        stop.wait(min(left, 1.0))
    note("signal received, exiting" if stop.is_set() else "lifetime over, exiting")
    srv.shutdown()
    srv.server_close()
    sys.stderr.flush()
    os._exit(0)   # daemon threads may be stalled in a fault: do not wait


if __name__ == "__main__":
    main()
