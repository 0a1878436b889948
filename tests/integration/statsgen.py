#!/usr/bin/env python3
"""Request logs with known answers, for the statistics tests (t6000, t6010).

The answers are computed here from the requests themselves, independently
of prepd: Python's zoneinfo for local days and 15-minute buckets, hmac for
the visitor hashes, a plain sort for sessions. The rules are README's
"Statistics" section and the stats.db contract.

  statsgen.py clf LOG ANSWERS --zone Z --start ISO --minutes N [--seed S]
      a Combined Log Format log (prepd's own flavour, with its extra
      fields, nginx's \\xHH escapes), plus 3 bad lines; ANSWERS is JSON
  statsgen.py cdn CLOUDFRONT CLOUDFLARE ANSWERS --zone Z --start ISO --minutes N
      the same kind of requests as a CloudFront standard log and as
      Cloudflare Logpush JSON lines (both ways of writing the timestamp)
  statsgen.py replay URL PLAN [--seed S] [--n N]
      live: sends N requests to a running prepd with X-Forwarded-For
      (127.0.0.1 must be a trusted proxy), varied clients and pages
  statsgen.py check DB ANSWERS KEYFILE SOURCE
      compares stats.db's rows of SOURCE with ANSWERS exactly; prints
      each difference; exit 1 on any
  statsgen.py same DB SOURCE1 SOURCE2 TABLE...
      the two sources' rows are equal in each table
"""
import gzip
import hashlib
import hmac
import http.client
import ipaddress
import json
import random
import sqlite3
import sys
import urllib.parse
from collections import defaultdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

GAP = 1800
SITE = "prep.example.mx"
PAGES = ["/", "/index.html", "/presidencia/entidad/07", "/senado/", "/acerca.htm"]
HITS = ["/data/pres.json", "/assets/app.3f2a.js", "/assets/style.css", "/favicon.ico"]
PORTALS = ["https://www.portal-a.mx/noticias/elecciones", "http://Diario.Example.com:8080/x?y=1",
           "https://user@tv.example.org/"]
UAS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1",
       'Bot "quoted" 1.0',                     # prepd writes the quotes as \x22
       "Navegador/1.0 (Espa\u00f1ol)",         # UTF-8 bytes, written \xC3\xB1
       ""]                                     # no User-Agent: "-"
# Paths of the test package (tests/mkpkgs): its pages, the SPA fallback,
# assets, JSON and misses.
LIVE_PATHS = ["/", "/index.html", "/presidencia/entidad/07", "/senado/", "/acerca.htm",
              "/styles.a1b2c3d4e5f60718.css", "/main.3f2a9c1b8d7e6f50.js", "/tiny.txt",
              "/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json", "/nope.html",
              "/datos", "/404.html"]
ADDRS = ["192.0.2.%d" % i for i in range(1, 40)] + \
        ["2001:db8::%x" % i for i in range(1, 12)] + ["::ffff:198.51.100.7"]


def is_page_path(path):
    if path.endswith("/"):
        return True
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return True
    ext = last.rsplit(".", 1)[-1].lower()
    return ext in ("html", "htm")


def addr_bytes(a):
    ip = ipaddress.ip_address(a)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.packed


def referrer_of(ref, own_hosts):
    """scheme://host of an external http(s) referer, or None."""
    if not ref:
        return None
    u = urllib.parse.urlsplit(ref)
    if u.scheme.lower() not in ("http", "https") or not u.hostname:
        return None
    if u.hostname.lower() in own_hosts:
        return None
    return "%s://%s" % (u.scheme.lower(), u.hostname.lower())


def requests_for(zone, start, minutes, seed):
    """A list of request dicts, time-ordered, over [start, start+minutes)."""
    rnd = random.Random(seed)
    t0 = int(start.timestamp())
    reqs = []
    # Visitors: an address and a user agent; each makes visits of polls.
    for v in range(45):
        addr = ADDRS[v % len(ADDRS)]
        ua = UAS[(v // len(ADDRS) + v) % len(UAS)]
        t = t0 + rnd.randrange(0, minutes * 60 // 2)
        for _ in range(rnd.randrange(1, 4)):        # visits
            end = min(t + rnd.randrange(0, 50 * 60), t0 + minutes * 60 - 1)
            first = True
            while t <= end:
                if first or rnd.random() < 0.15:
                    path = rnd.choice(PAGES)
                    ref = rnd.choice(PORTALS + ["https://%s/" % SITE, "", "android-app://x"]) \
                        if first else "https://%s/" % SITE
                else:
                    path = rnd.choice(HITS) + ("?t=%d" % t if rnd.random() < 0.5 else "")
                    ref = "https://%s/" % SITE
                method = "HEAD" if rnd.random() < 0.03 else "GET"
                status = rnd.choice([200] * 12 + [304, 304, 404, 500])
                size = 0 if method == "HEAD" or status == 304 else rnd.randrange(100, 90000)
                reqs.append(dict(t=t, addr=addr, ua=ua, method=method, path=path,
                                 status=status, bytes=size, ref=ref,
                                 https=rnd.random() < 0.7))
                first = False
                t += rnd.randrange(20, 200)
            # The next visit after a pause: sometimes exactly the gap (still
            # the same session), one second more (a new one), or longer.
            t = end + rnd.choice([GAP, GAP + 1, GAP * 2, 600])
    # Edge cases by hand: a poller across local midnight and the DST end.
    for k in range(0, minutes * 60, 240):
        reqs.append(dict(t=t0 + k, addr="203.0.113.9", ua="Kiosk/2.0", method="GET",
                         path="/data/pres.json", status=200, bytes=1234, ref="", https=True))
    reqs.sort(key=lambda r: r["t"])
    return reqs


def answers(reqs, zone, own_hosts, key=None, cut=False):
    """The expected rows, keyed as the database's tables are."""
    z = ZoneInfo(zone)
    minute = defaultdict(lambda: [0, 0, 0, 0])
    status = defaultdict(int)
    visit = defaultdict(lambda: [0, 0])
    page = defaultdict(int)
    referrer = defaultdict(int)
    times = defaultdict(list)
    for r in reqs:
        t = r["t"]
        lt = datetime.fromtimestamp(t, z)
        day = lt.strftime("%Y-%m-%d")
        off = int(lt.utcoffset().total_seconds())
        t15 = t - (t + off) % 900
        t1 = t - t % 60
        pv = r["method"] == "GET" and r["status"] in (200, 304) and \
            is_page_path(r["path"].split("?")[0])
        m = minute[t1]
        m[0] += 1
        m[1] += r["bytes"]
        m[2] += 1 if r.get("https_counted") else 0
        m[3] += pv
        status[(t1, r["status"])] += 1
        vkey = (day, r["addr"], r["ua"])
        visit[(t15, vkey)][0] += 1
        visit[(t15, vkey)][1] += pv
        if pv:
            page[(t15, r["path"].split("?")[0])] += 1
        ref = referrer_of(r["ref"], own_hosts)
        if ref:
            referrer[(t15, ref)] += 1
        times[vkey].append((t, pv))
    sessions = []
    for vkey, ts in times.items():
        ts.sort()
        cur = None
        for t, pv in ts:
            if cur and t - cur[1] <= GAP:
                cur[1] = t
                cur[2] += 1
                cur[3] += pv
            else:
                if cur:
                    sessions.append((vkey,) + tuple(cur))
                cur = [t, t, 1, int(pv)]
        sessions.append((vkey,) + tuple(cur))
    return dict(
        minute=[[t] + v for t, v in sorted(minute.items())],
        minute_status=[[t, s, n] for (t, s), n in sorted(status.items())],
        visit=[[t, list(k), v[0], v[1]] for (t, k), v in sorted(visit.items())],
        page=[[t, p, n] for (t, p), n in sorted(page.items())],
        referrer=[[t, r, n] for (t, r), n in sorted(referrer.items())],
        session=[[list(k), s, e, n, p] for k, s, e, n, p in sorted(sessions)],
        totals=dict(requests=len(reqs), bytes=sum(r["bytes"] for r in reqs),
                    visitors=len({k for (_, k) in visit}),
                    page_views=sum(v[3] for v in minute.values()),
                    sessions=len(sessions)))


def esc(s):
    """prepd's (nginx's) escaping of a quoted field."""
    if not s:
        return "-"
    out = []
    for b in s.encode():
        if b < 0x20 or b >= 0x7f or b in (0x22, 0x5c):
            out.append("\\x%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def cmd_clf(args):
    log, ans, zone, start, minutes = args[0], args[1], opt(args, "--zone"), \
        opt(args, "--start"), int(opt(args, "--minutes"))
    seed = int(opt(args, "--seed", "1"))
    z = ZoneInfo(zone)
    reqs = requests_for(zone, datetime.fromisoformat(start), minutes, seed)
    with open(log, "w", encoding="ascii") as f:
        for i, r in enumerate(reqs):
            lt = datetime.fromtimestamp(r["t"], z)
            ip = r["addr"]
            f.write('%s - - [%s] "%s %s HTTP/1.1" %d %s "%s" "%s" 7 20221030_0100 0.000%03d\n' % (
                ip, lt.strftime("%d/%b/%Y:%H:%M:%S %z"), r["method"], r["path"], r["status"],
                r["bytes"] or "-", esc(r["ref"]), esc(r["ua"]), i % 1000))
            if i in (5, 77, 200):   # bad lines, at known places
                f.write(["garbage that is not a log line\n",
                         '192.0.2.1 - - [31/Feb/2022:10:00:00 -0500] "GET / HTTP/1.1" 200 5 "-" "-"\n',
                         '192.0.2.1 - - [30/Oct/2022:01:00:00 -0600] "GET / HTTP/1.1" 2x0 5\n'][
                            (5, 77, 200).index(i)])
    a = answers(reqs, zone, {SITE})
    a["bad_lines"] = 3
    json.dump(a, open(ans, "w"))


def cmd_cdn(args):
    cfront, cflare, ans = args[0], args[1], args[2]
    zone, start, minutes = opt(args, "--zone"), opt(args, "--start"), int(opt(args, "--minutes"))
    reqs = requests_for(zone, datetime.fromisoformat(start), minutes, int(opt(args, "--seed", "2")))
    for r in reqs:
        r["https_counted"] = r["https"]
    # CloudFront: the documented 33 fields, in a different order for the
    # second half of the file (a new #Fields header), URL-encoded agent
    # and referer, UTC times; gzip-compressed as CloudFront delivers.
    f33 = ("date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
           "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type "
           "x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for "
           "ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
           "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type "
           "sc-content-type sc-content-len sc-range-start sc-range-end").split()
    half = len(reqs) // 2
    with gzip.open(cfront, "wt", encoding="ascii") as f:
        f.write("#Version: 1.0\n#Fields: %s\n" % " ".join(f33))
        order = f33
        for i, r in enumerate(reqs):
            if i == half:
                order = f33[:3] + list(reversed(f33[3:]))
                f.write("#Version: 1.0\n#Fields: %s\n" % " ".join(order))
            dt = datetime.fromtimestamp(r["t"], timezone.utc)
            path, _, query = r["path"].partition("?")
            q = lambda s: urllib.parse.quote(s, safe="/:;,()") if s else "-"
            vals = {
                "date": dt.strftime("%Y-%m-%d"), "time": dt.strftime("%H:%M:%S"),
                "x-edge-location": "MEX50-C1",
                # sc-bytes counts the headers too: never the body figure
                "sc-bytes": str(r["bytes"] + 350), "c-ip": r["addr"],
                "cs-method": r["method"], "cs(Host)": "d111111abcdef8.cloudfront.net",
                "cs-uri-stem": path, "sc-status": str(r["status"]),
                "cs(Referer)": q(r["ref"]), "cs(User-Agent)": q(r["ua"]),
                "cs-uri-query": query or "-", "cs(Cookie)": "-",
                "x-edge-result-type": "Hit", "x-edge-request-id": "abc%d==" % i,
                "x-host-header": SITE, "cs-protocol": "https" if r["https"] else "http",
                "cs-bytes": "120", "time-taken": "0.002", "x-forwarded-for": "-",
                "ssl-protocol": "TLSv1.3" if r["https"] else "-",
                "ssl-cipher": "TLS_AES_128_GCM_SHA256" if r["https"] else "-",
                "x-edge-response-result-type": "Hit", "cs-protocol-version": "HTTP/2.0",
                "fle-status": "-", "fle-encrypted-fields": "-", "c-port": "50000",
                "time-to-first-byte": "0.001", "x-edge-detailed-result-type": "Hit",
                "sc-content-type": "text/html",
                # HEAD and 304 have a Content-Length of the entity, no body
                "sc-content-len": str(r["bytes"] or 777) if r["method"] == "HEAD" or r["status"] == 304
                else str(r["bytes"]),
                "sc-range-start": "-", "sc-range-end": "-",
            }
            f.write("\t".join(vals[k] for k in order) + "\n")
        f.write("2022-10-30\tnot\tenough\tfields\n")   # one bad line
    # Cloudflare: JSON lines, the timestamp as RFC 3339 for the first
    # third, Unix nanoseconds next, Unix seconds last (Logpush's
    # timestamp_format options); EdgeResponseBytes includes headers,
    # EdgeResponseBodyBytes is the body.
    with open(cflare, "w", encoding="utf-8") as f:
        n = len(reqs)
        for i, r in enumerate(reqs):
            if i < n // 3:
                ts = datetime.fromtimestamp(r["t"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif i < 2 * n // 3:
                ts = r["t"] * 1000000000 + 123456789
            else:
                ts = r["t"]
            o = dict(ClientIP=r["addr"], ClientRequestHost=SITE,
                     ClientRequestMethod=r["method"], ClientRequestURI=r["path"],
                     ClientRequestScheme="https" if r["https"] else "http",
                     ClientRequestUserAgent=r["ua"], ClientRequestReferer=r["ref"],
                     EdgeResponseStatus=r["status"], EdgeResponseBytes=r["bytes"] + 400,
                     EdgeResponseBodyBytes=r["bytes"], EdgeStartTimestamp=ts,
                     RayID="7d%014x" % i, CacheCacheStatus="hit")
            f.write(json.dumps(o, ensure_ascii=(i % 2 == 0)) + "\n")
        f.write('{"ClientIP": "192.0.2.1", "EdgeResponseStatus": 200}\n')   # no timestamp
        f.write("{not json\n")
    a = answers(reqs, zone, {SITE})
    a["bad_cloudfront"] = 1
    a["bad_cloudflare"] = 2
    json.dump(a, open(ans, "w"))


def visitor_hash(key, day, addr, ua):
    msg = day.encode() + b"\0" + addr_bytes(addr) + b"\0" + ua.encode()
    return hmac.new(key, msg, hashlib.sha256).digest()[:16]


def cmd_check(args):
    db, ans, keyfile, source = args
    a = json.load(open(ans))
    key = open(keyfile, "rb").read()
    assert len(key) == 32, "the key file is not 32 bytes"
    c = sqlite3.connect(db)
    bad = 0

    def compare(name, want, got):
        nonlocal bad
        want, got = sorted(map(tuple, want)), sorted(map(tuple, got))
        if want == got:
            print("ok %s: %d rows" % (name, len(want)))
            return
        bad += 1
        ws, gs = set(want), set(got)
        print("DIFF %s: %d rows wanted, %d in the database" % (name, len(want), len(got)))
        for r in sorted(ws - gs)[:8]:
            print("  missing:", r)
        for r in sorted(gs - ws)[:8]:
            print("  unexpected:", r)

    compare("minute", a["minute"], c.execute(
        "SELECT t, requests, bytes, https, page_views FROM minute WHERE source=?", (source,)))
    compare("minute_status", a["minute_status"], c.execute(
        "SELECT t, status, requests FROM minute_status WHERE source=?", (source,)))
    hv = lambda k: visitor_hash(key, *k)
    compare("visit", [(t, hv(k), n, p) for t, k, n, p in a["visit"]], c.execute(
        "SELECT t, visitor, requests, page_views FROM visit WHERE source=?", (source,)))
    compare("page", a["page"], c.execute(
        "SELECT t, path, views FROM page WHERE source=?", (source,)))
    compare("referrer", a["referrer"], c.execute(
        "SELECT t, referrer, requests FROM referrer WHERE source=?", (source,)))
    compare("session", [(hv(k), s, e, n, p) for k, s, e, n, p in a["session"]], c.execute(
        "SELECT visitor, start, end, requests, page_views FROM session WHERE source=?",
        (source,)))
    tot = a["totals"]
    got = c.execute("SELECT COUNT(DISTINCT visitor) FROM visit WHERE source=?",
                    (source,)).fetchone()[0]
    if got != tot["visitors"]:
        bad += 1
        print("DIFF visitors: %d wanted, %d" % (tot["visitors"], got))
    else:
        print("ok visitors: %d" % got)
    # The contract's figures per 15 minutes, as a report reads them.
    per15 = defaultdict(lambda: [set(), 0, 0])
    for t, k, n, p in a["visit"]:
        per15[t][0].add(tuple(k))
        per15[t][1] += n
        per15[t][2] += p
    want = [(t, len(v[0]), v[1], v[2]) for t, v in per15.items()]
    compare("per 15 minutes (visitors, hits, page views)", want, c.execute(
        "SELECT t, COUNT(*), SUM(requests), SUM(page_views) FROM visit WHERE source=? "
        "GROUP BY t", (source,)))
    sys.exit(1 if bad else 0)


def cmd_same(args):
    db, s1, s2 = args[:3]
    c = sqlite3.connect(db)
    cols = {"minute": "t, requests, bytes, page_views", "minute_status": "t, status, requests",
            "visit": "t, visitor, requests, page_views", "page": "t, path, views",
            "referrer": "t, referrer, requests",
            "session": "visitor, start, end, requests, page_views"}
    bad = 0
    for tab in args[3:]:
        q = "SELECT %s FROM %s WHERE source=? ORDER BY 1, 2, 3" % (cols[tab], tab)
        a, b = c.execute(q, (s1,)).fetchall(), c.execute(q, (s2,)).fetchall()
        if a != b or not a:
            bad += 1
            print("DIFF %s: %s has %d rows, %s has %d" % (tab, s1, len(a), s2, len(b)))
            for r in sorted(set(a) ^ set(b))[:6]:
                print("  ", "only %s:" % (s1 if r in a else s2), r)
        else:
            print("ok %s: %d rows the same" % (tab, len(a)))
    sys.exit(1 if bad else 0)


def cmd_replay(args):
    url, plan = args[0], args[1]
    n = int(opt(args, "--n", "300"))
    rnd = random.Random(int(opt(args, "--seed", "3")))
    u = urllib.parse.urlsplit(url)
    conns = {}
    sent = []
    for i in range(n):
        addr = rnd.choice(ADDRS[:20] + ADDRS[-3:])
        ua = rnd.choice(UAS[:2] + UAS[3:])     # http.client sends bytes as latin-1
        path = rnd.choice(LIVE_PATHS + ["/data/pres.json?x=%d" % i,
                                        "/styles.a1b2c3d4e5f60718.css?v=%d" % i])
        ref = rnd.choice(PORTALS[:2] + ["http://%s/" % u.netloc, ""])
        method = "HEAD" if rnd.random() < 0.05 else "GET"
        c = conns.get(addr)
        if not c:
            c = conns[addr] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        h = {"X-Forwarded-For": addr}
        if ua:
            h["User-Agent"] = ua.encode().decode("latin-1")
        else:
            h["User-Agent"] = ""
        if ref:
            h["Referer"] = ref
        c.request(method, path, headers=h)
        resp = c.getresponse()
        resp.read()
        sent.append(dict(addr=addr, path=path, method=method, status=resp.status))
    for c in conns.values():
        c.close()
    json.dump(sent, open(plan, "w"))
    print("replayed %d requests" % n)


def opt(args, name, default=None):
    if name in args:
        return args[args.index(name) + 1]
    if default is None:
        sys.exit("statsgen: %s is required" % name)
    return default


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"clf": cmd_clf, "cdn": cmd_cdn, "check": cmd_check, "same": cmd_same,
     "replay": cmd_replay}[cmd](sys.argv[2:])
