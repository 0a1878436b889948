#!/usr/bin/env python3
"""A local stand-in for the CDN purge APIs prepd drives (edge/purge_req.h):
Cloudflare, CloudFront, Fastly, a Varnish purge listener and a webhook
receiver, on one loopback port. It CHECKS every request byte that matters,
from the vendors' documentation, not from prepd's code:

  cloudflare  POST /client/v4/zones/ZONE/purge_cache
              Authorization: Bearer TOKEN, Content-Type: application/json,
              a JSON object with exactly one of files (URLs, at most
              --cf-max), tags, purge_everything: true
  cloudfront  POST /2020-05-31/distribution/ID/invalidation, AWS SigV4
              (verified here with hashlib/hmac: credential scope
              DATE/us-east-1/cloudfront/aws4_request, the canonical request
              of SignedHeaders, the payload hash, a date within 15 minutes),
              an InvalidationBatch document in the 2020-05-31 namespace whose
              Quantity is the number of Paths, each starting with '/', at most
              3000, and a CallerReference
  fastly      POST /service/ID/purge/KEY, POST /service/ID/purge with
              Surrogate-Key, POST /service/ID/purge_all; Fastly-Key
  varnish     BAN / with X-PREP-Ban, or PURGE /PATH; Host: --host
  webhook     POST /hook, Content-Type: application/json,
              X-PREP-Signature: sha256=HMAC-SHA256(secret, raw body), a body
              with cut, seq, kind, sent (within 5 minutes), paths

A request that fails a check is answered 400 and its problems recorded.
Control (for the test): GET /_requests (JSON list of what came, with
problems), POST /_reset, POST /_fault?kind=K&status=503&n=2[&retry_after=S]
or ?kind=K&stall=SECONDS&n=1 (the next n requests of that kind; kind "any").

  cdnstub.py --selftest    checks the SigV4 verifier against AWS's published
                           aws-sig-v4-test-suite vectors, then exits.
  cdnstub.py --port-file F [--cf-token T] [--fastly-key K] [--aws-key-id I]
             [--aws-secret S] [--webhook-secret W] [--zone Z]
             [--distribution D] [--service S] [--host H] [--cf-max N]

Python 3 standard library only.
"""
import argparse
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---- AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4
# signing process"), written from the specification ----


def _uri_encode(s, safe):
    return urllib.parse.quote(s, safe=safe)


def canonical_uri(path):
    # Each segment URI-encoded (unreserved kept), '/' kept; non-S3 services
    # normalise the path, which the vectors used here do not exercise.
    return _uri_encode(urllib.parse.unquote(path), "/-_.~") or "/"


def canonical_query(query):
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote(k), "-_.~"),
                      _uri_encode(urllib.parse.unquote(v), "-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(method, path, query, headers, signed, payload):
    """headers: list of (name, value) as received; signed: lowercase names."""
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.strip().split()))
    lines = [method, canonical_uri(path), canonical_query(query)]
    for name in signed:
        lines.append(f"{name}:{','.join(values.get(name, []))}")
    lines.append("")
    lines.append(";".join(signed))
    lines.append(hashlib.sha256(payload).hexdigest())
    return "\n".join(lines)


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(secret, amz_date, scope, creq):
    date, region, service, _ = scope.split("/")
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    return hmac.new(signing_key(secret, date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


AUTHZ = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def verify_sigv4(method, path, query, headers, payload, key_id, secret, region, service,
                 now=None, skew=900):
    """Returns a list of problems (empty: the signature is right)."""
    hv = {n.lower(): v for n, v in headers}
    m = AUTHZ.match(hv.get("authorization", ""))
    if not m:
        return [f"Authorization is not an AWS4-HMAC-SHA256 header: {hv.get('authorization')!r}"]
    akid, date, reg, svc, signed, sig = m.groups()
    problems = []
    if akid != key_id:
        problems.append(f"access key id {akid!r}, want {key_id!r}")
    if reg != region or svc != service:
        problems.append(f"scope {reg}/{svc}, want {region}/{service}")
    amz_date = hv.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != date:
        problems.append(f"X-Amz-Date {amz_date!r} does not match the scope's date {date}")
    elif now is not None:
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        if abs(now - t) > skew:
            problems.append(f"X-Amz-Date {amz_date} is {int(now - t)} s off")
    names = signed.split(";")
    if names != sorted(names) or "host" not in names:
        problems.append(f"SignedHeaders {signed} not sorted or without host")
    if "x-amz-date" not in names:
        problems.append("x-amz-date is not signed")
    creq = canonical_request(method, path, query, headers, names, payload)
    want = signature(secret, amz_date, f"{date}/{reg}/{svc}/aws4_request", creq)
    if not hmac.compare_digest(want, sig):
        problems.append("SigV4 signature does not verify")
    return problems


# AWS's aws-sig-v4-test-suite (credentials AKIDEXAMPLE /
# wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service"):
# each case's .req and its published .authz, as the suite ships them.
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE = {
    "get-vanilla": (
        "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    "post-vanilla": (
        "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    "get-vanilla-query-order-key-case": (
        "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\n"
        "X-Amz-Date:20150830T123600Z",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    "get-unreserved": (
        "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
        "Host:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    "post-header-key-sort": (
        "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\n"
        "X-Amz-Date:20150830T123600Z",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;my-header1;x-amz-date, "
        "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    "post-x-www-form-urlencoded": (
        "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\n"
        "Host:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n\nParam1=value1",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
}


def parse_req(text):
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, target, _ = lines[0].split(" ", 2) if lines[0].count(" ") >= 2 else (*lines[0].split(" ", 1), "")
    # The request line's target may hold spaces only in normalize-path cases,
    # which are not used here.
    path, _, query = target.partition("?")
    headers = [tuple(x.split(":", 1)) for x in lines[1:]]
    return method, path, query, headers, body.encode()


def selftest():
    failed = 0
    for name, (req, authz) in SUITE.items():
        method, path, query, headers, body = parse_req(req)
        headers.append(("Authorization", authz))
        problems = verify_sigv4(method, path, query, headers, body, "AKIDEXAMPLE",
                                SUITE_SECRET, "us-east-1", "service")
        if problems:
            failed += 1
            print(f"sigv4 vector {name}: {problems}")
        # The verifier must also refuse what is not that request.
        bad = [(n, v) for n, v in headers if n.lower() != "x-amz-date"]
        bad.append(("X-Amz-Date", "20150830T123601Z"))
        tampered = [
            (method, path + "x", query, headers, body),
            (method, path, query, bad, body),
            (method, path, query, headers, body + b"x"),
            ("PUT" if method != "PUT" else "GET", path, query, headers, body),
        ]
        for t in tampered:
            if not verify_sigv4(*t, "AKIDEXAMPLE", SUITE_SECRET, "us-east-1", "service"):
                failed += 1
                print(f"sigv4 vector {name}: a tampered request verifies")
        if not verify_sigv4(method, path, query, headers, body, "AKIDEXAMPLE",
                            SUITE_SECRET[:-1] + "X", "us-east-1", "service"):
            failed += 1
            print(f"sigv4 vector {name}: verifies under another secret")
    print(f"sigv4 selftest: {len(SUITE)} vectors, {failed} failed")
    return 1 if failed else 0


# ---- the stand-in server ----

class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = []
        self.faults = []   # dicts: kind, status, retry_after, stall, n


def kind_of(method, path):
    if path.startswith("/client/v4/"):
        return "cloudflare"
    if path.startswith("/2020-05-31/"):
        return "cloudfront"
    if path.startswith("/service/"):
        return "fastly"
    if path.startswith("/hook"):
        return "webhook"
    if method in ("BAN", "PURGE"):
        return "varnish"
    return "unknown"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cdnstub"

    def log_message(self, fmt, *a):
        pass

    def _send(self, status, body=b"", ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _control(self, path, query):
        st = self.server.state
        q = dict(urllib.parse.parse_qsl(query))
        if path == "/_requests":
            with st.lock:
                return self._send(200, json.dumps(st.requests).encode())
        if path == "/_reset":
            with st.lock:
                st.requests.clear()
                st.faults.clear()
            return self._send(200, b"{}")
        if path == "/_fault":
            with st.lock:
                st.faults.append({"kind": q.get("kind", "any"), "status": int(q.get("status", 0)),
                                  "retry_after": q.get("retry_after"),
                                  "stall": float(q.get("stall", 0)), "n": int(q.get("n", 1))})
            return self._send(200, b"{}")
        return self._send(404, b"{}")

    def _take_fault(self, kind):
        st = self.server.state
        with st.lock:
            for f in st.faults:
                if f["n"] > 0 and f["kind"] in (kind, "any"):
                    f["n"] -= 1
                    return dict(f)
        return None

    def _handle(self):
        path, _, query = self.path.partition("?")
        if path.startswith("/_"):
            self._body()
            return self._control(path, query)
        body = self._body()
        kind = kind_of(self.command, path)
        headers = list(self.headers.items())
        rec = {"kind": kind, "method": self.command, "path": path, "query": query,
               "headers": {k.lower(): v for k, v in headers}, "body": body.decode("utf-8", "replace"),
               "time": time.time(), "problems": []}
        fault = self._take_fault(kind)
        if fault and fault["stall"]:
            rec["fault"] = f"stall {fault['stall']}"
            with self.server.state.lock:
                self.server.state.requests.append(rec)
            time.sleep(fault["stall"])
            self.close_connection = True
            return
        check = getattr(self, "check_" + kind, None)
        status, answer, extra = (404, b'{"error":"no such API"}', ())
        if check:
            status, answer, extra = check(rec, path, query, headers, body)
        if rec["problems"]:
            status, answer, extra = 400, json.dumps({"problems": rec["problems"]}).encode(), ()
        elif fault and fault["status"]:
            rec["fault"] = f"status {fault['status']}"
            status = fault["status"]
            answer = b'{"success":false,"errors":[{"code":10000,"message":"stand-in fault"}]}'
            extra = (("Retry-After", fault["retry_after"]),) if fault["retry_after"] else ()
        rec["status"] = status
        with self.server.state.lock:
            self.server.state.requests.append(rec)
        self._send(status, answer, extra=extra)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    def do_BAN(self):
        self._handle()

    def do_PURGE(self):
        self._handle()

    # -- per API --

    def _need(self, rec, cond, msg):
        if not cond:
            rec["problems"].append(msg)

    def _ctype(self, rec, want):
        got = (rec["headers"].get("content-type") or "").split(";")[0].strip().lower()
        self._need(rec, got == want, f"Content-Type {got!r}, want {want}")

    def check_cloudflare(self, rec, path, query, headers, body):
        a = self.server.state.args
        self._need(rec, rec["method"] == "POST", f"method {rec['method']}, want POST")
        self._need(rec, path == f"/client/v4/zones/{a.zone}/purge_cache", f"path {path}")
        self._need(rec, not query, f"query {query!r}")
        self._need(rec, rec["headers"].get("authorization") == f"Bearer {a.cf_token}",
                   "Authorization is not Bearer + the API token")
        self._ctype(rec, "application/json")
        try:
            j = json.loads(body)
        except ValueError:
            rec["problems"].append("body is not JSON")
            return 400, b"{}", ()
        keys = set(j) if isinstance(j, dict) else set()
        self._need(rec, len(keys) == 1 and keys <= {"files", "tags", "purge_everything"},
                   f"body keys {sorted(keys)}: want one of files, tags, purge_everything")
        if "files" in keys:
            f = j["files"]
            self._need(rec, isinstance(f, list) and 0 < len(f) <= a.cf_max and
                       all(isinstance(u, str) and re.match(r"^https?://[^/\s]+/\S*$", u) for u in f),
                       f"files: want 1..{a.cf_max} absolute URLs, got {f!r}"[:300])
        if "tags" in keys:
            t = j["tags"]
            self._need(rec, isinstance(t, list) and 0 < len(t) <= 100 and
                       all(isinstance(x, str) and x and " " not in x for x in t), f"tags {t!r}")
        if "purge_everything" in keys:
            self._need(rec, j["purge_everything"] is True, "purge_everything is not true")
        return 200, json.dumps({"success": True, "errors": [], "messages": [],
                                "result": {"id": "9a7806061c88ada191ed06f989cc3dac"}}).encode(), ()

    def check_cloudfront(self, rec, path, query, headers, body):
        a = self.server.state.args
        self._need(rec, rec["method"] == "POST", f"method {rec['method']}, want POST")
        self._need(rec, path == f"/2020-05-31/distribution/{a.distribution}/invalidation",
                   f"path {path}")
        got = (rec["headers"].get("content-type") or "").split(";")[0].strip().lower()
        self._need(rec, got in ("text/xml", "application/xml"), f"Content-Type {got!r}")
        rec["problems"] += verify_sigv4(rec["method"], path, query, headers, body, a.aws_key_id,
                                        a.aws_secret, "us-east-1", "cloudfront", now=time.time())
        ns = "{http://cloudfront.amazonaws.com/doc/2020-05-31/}"
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            rec["problems"].append(f"body is not XML: {e}")
            return 400, b"", ()
        self._need(rec, root.tag == ns + "InvalidationBatch", f"root {root.tag}")
        q = root.find(f"{ns}Paths/{ns}Quantity")
        items = root.findall(f"{ns}Paths/{ns}Items/{ns}Path")
        ref = root.find(f"{ns}CallerReference")
        self._need(rec, q is not None and q.text == str(len(items)),
                   f"Quantity {q.text if q is not None else None} != {len(items)} paths")
        self._need(rec, 0 < len(items) <= 3000, f"{len(items)} paths (1..3000)")
        self._need(rec, all(p.text and p.text.startswith("/") and " " not in p.text for p in items),
                   "a path does not start with / or has a space")
        self._need(rec, ref is not None and ref.text and len(ref.text) <= 128,
                   "no CallerReference")
        rec["paths"] = [p.text for p in items]
        rec["caller_reference"] = ref.text if ref is not None else None
        out = (f'<?xml version="1.0"?><Invalidation xmlns="{ns[1:-1]}"><Id>I2J0I21PCUYOIK</Id>'
               f"<Status>InProgress</Status></Invalidation>").encode()
        return 201, out, (("Location", f"https://cloudfront.amazonaws.com/2020-05-31/distribution/"
                                       f"{a.distribution}/invalidation/I2J0I21PCUYOIK"),)

    def check_fastly(self, rec, path, query, headers, body):
        a = self.server.state.args
        self._need(rec, rec["method"] == "POST", f"method {rec['method']}, want POST")
        self._need(rec, rec["headers"].get("fastly-key") == a.fastly_key, "Fastly-Key is not the key")
        base = f"/service/{a.service}/"
        self._need(rec, path.startswith(base), f"path {path}")
        rest = path[len(base):]
        if rest == "purge":
            keys = (rec["headers"].get("surrogate-key") or "").split()
            self._need(rec, 0 < len(keys) <= 256, f"Surrogate-Key {keys!r}")
            rec["keys"] = keys
            return 200, json.dumps({k: "108-1391560174-974124" for k in keys}).encode(), ()
        if rest == "purge_all":
            rec["keys"] = ["*"]
            return 200, b'{"status":"ok"}', ()
        m = re.fullmatch(r"purge/([^/]+)", rest)
        self._need(rec, m is not None, f"path {path}")
        rec["keys"] = [urllib.parse.unquote(m.group(1))] if m else []
        return 200, b'{"status":"ok","id":"108-1391560174-974124"}', ()

    def check_varnish(self, rec, path, query, headers, body):
        a = self.server.state.args
        self._need(rec, rec["headers"].get("host") == a.host, f"Host {rec['headers'].get('host')!r}")
        if rec["method"] == "BAN":
            ban = rec["headers"].get("x-prep-ban") or ""
            self._need(rec, path == "/", f"BAN path {path}")
            self._need(rec, re.fullmatch(r'obj\.http\.X-PREP-Cut !~ "label=[A-Za-z0-9_\-\[\]\.]+\(;\|\$\)"'
                                         r'|obj\.status != 0', ban) is not None,
                       f"X-PREP-Ban {ban!r}")
        else:
            self._need(rec, path.startswith("/") and not body, f"PURGE {path}")
        return 200, b"", ()

    def check_webhook(self, rec, path, query, headers, body):
        a = self.server.state.args
        self._need(rec, rec["method"] == "POST" and path == "/hook", f"{rec['method']} {path}")
        self._ctype(rec, "application/json")
        want = "sha256=" + hmac.new(a.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        got = rec["headers"].get("x-prep-signature") or ""
        self._need(rec, hmac.compare_digest(want, got), "X-PREP-Signature does not verify")
        try:
            j = json.loads(body)
        except ValueError:
            rec["problems"].append("body is not JSON")
            return 400, b"", ()
        self._need(rec, isinstance(j.get("cut"), str) and isinstance(j.get("seq"), int) and
                   j.get("kind") in ("full", "incremental", "rollback") and
                   isinstance(j.get("paths"), list), f"body fields {sorted(j)}")
        self._need(rec, isinstance(j.get("sent"), int) and abs(time.time() - j["sent"]) < 300,
                   "sent is missing or more than 5 minutes off (a replay)")
        return 204, b"", ()


def main():
    if "--selftest" in sys.argv:
        sys.exit(selftest())
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--cf-token", default="cf-token")
    p.add_argument("--cf-max", type=int, default=100)
    p.add_argument("--fastly-key", default="fastly-key")
    p.add_argument("--aws-key-id", default="AKIDEXAMPLE")
    p.add_argument("--aws-secret", default="secret")
    p.add_argument("--webhook-secret", default="hook-secret")
    p.add_argument("--zone", default="zone")
    p.add_argument("--distribution", default="DIST")
    p.add_argument("--service", default="svc")
    p.add_argument("--host", default="site.example")
    args = p.parse_args()
    # The default backlog of 5 overflows when seven targets purge at once:
    # the kernel drops the SYN and the client's retry comes after the
    # target's 1 s timeout, which turned a first attempt into a second.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
