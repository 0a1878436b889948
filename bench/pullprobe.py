#!/usr/bin/env python3
"""bench/pullprobe.py: how long after a pulled package's last byte leaves
the upstream prepd serves its cut (bench/ingest-large's pull row).

usage: pullprobe.py FILE CERT KEY LABEL PORT LOG PREPD ARGS...

Serves FILE over HTTPS on 127.0.0.1 (any free port) at /BASENAME, starts
PREPD ARGS... --upstream https://127.0.0.1:UP/BASENAME (ARGS must name
--ca, --data and --http 127.0.0.1:PORT; its output goes to LOG), and polls
http://127.0.0.1:PORT/assets/json/nacional.json until X-PREP-Cut names
LABEL. Prints "served_ms download_ms pid": served_ms from the moment the
upstream's last write of the body returned (the body is in the kernel's
socket buffer: arrival, on loopback) to the first response naming the cut;
download_ms from the request to that moment. Python 3 stdlib only;
loopback only; gives up after 120 s."""
import hashlib, http.client, http.server, os, ssl, subprocess, sys, threading, time

path, cert, key, label, port, log = sys.argv[1:7]
port = int(port)
name = os.path.basename(path)
body = open(path, "rb").read()
etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
times = {}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.split("?")[0] != "/" + name:
            self.send_error(404)
            return
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        times.setdefault("start", time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        view = memoryview(body)
        for at in range(0, len(body), 1 << 20):
            self.wfile.write(view[at:at + (1 << 20)])
        self.wfile.flush()
        times.setdefault("last", time.monotonic())


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
up = srv.server_address[1]
p = subprocess.Popen(sys.argv[7:] + ["--upstream", f"https://127.0.0.1:{up}/{name}"],
                     stdout=open(log, "w"), stderr=subprocess.STDOUT)
t0 = time.monotonic()
seen = None
while time.monotonic() - t0 < 120:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            c.request("GET", "/assets/json/nacional.json")
            r = c.getresponse()
            r.read()
            if "label=" + label in (r.getheader("X-PREP-Cut") or ""):
                seen = time.monotonic()
                break
            if time.monotonic() - t0 > 120:
                break
        break
    except OSError:
        time.sleep(0.005)
if seen is None or "last" not in times:
    print(f"- - {p.pid}")
else:
    print(f"{(seen - times['last']) * 1000:.1f} {(times['last'] - times['start']) * 1000:.1f} {p.pid}")
