#!/usr/bin/env python3
"""The driver of the edge test (t7010-edge.sh) and of bench/edge.

    edge.py --edge URL --pkgs LIST --origin NAME=SPOOL=LOG ... --out REPORT
            [--period 4] [--spreads 15,15,15,15,15,0,3,0,3,0] [--tail 3]
            [--stop FILE] [--browser FILE] [--visitors 1] [--pollers 1]
            [--max-seconds 120]

LIST is edgesite.py's output for the cuts to publish, in order ("CUT LABEL
PATH MAIN CHUNK LAZY"); the first line's cut must already be served by
every origin and the edge. The rest are published through each origin's
spool (a dot-temp name, then a rename, as an SFTP upload ends). The
origins get a cut SPREAD seconds apart, the spreads taken in turn from
SPREADS (by default five cuts 15 s apart, then 0 and 3 s in turn): the
first origin at 0, the middle ones at 3 s (or SPREAD if less), the last at
SPREAD. A new cut starts every PERIOD seconds where each origin still gets
its cuts in order, so cuts overlap and the run stays near a minute.

Meanwhile, on threads of their own:
- the pollers GET "/" and assets/data.json at the edge ten times a second
  (the edge's cut, and when each cut appears there);
- the visitors load the site as a browser does: "/", then the stylesheet
  and main.<h>.js it names, the JSON, the chunk-<h>.js main imports, and,
  after 4 to 8 s with the page open, the lazy-<h>.js route; every second visit also pauses up to 2 s
  between the page and its assets, as a slow phone does;
- one watcher reads each origin's log every 20 ms and times each
  "ingest publish ... cut=LABEL" line as it appears (the log's own times
  are whole seconds).

When the last cut has been published at the last origin, TAIL seconds more
are watched, FILE (--stop) is created so the browser loop ends, and its
results (--browser, JSON lines from tests/browser/edge.mjs) are read.

Prints the figures, then one line per assertion, "check NAME ok|fail
DETAIL": no response other than 200/304 at the edge, no blank page (a
visit whose page, script, JSON or chunk failed; the browser's blank
pages), the edge's cut never goes backwards (a response for the page or
the JSON that started after another ended never names an older cut), and
every cut is visible at the edge within 1 s of the last origin publishing
it (from then on every response for the page and the JSON names it or a
newer cut). Writes the raw figures to REPORT (JSON). Exit status 0 when every check passed,
1 otherwise, 2 on a usage or set-up error. Python 3 standard library only;
talks to loopback only.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import sys
import threading
import time
import urllib.parse

VISIBLE_WITHIN_S = 1.0

stop = threading.Event()
lock = threading.Lock()
responses = []      # (t_start, t_end, who, path, status, label or None)
visits = []         # (t, who, ok, reason)
published = {}      # (origin, label) -> time the log line was seen


def cut_label(value):
    m = re.search(r"(?:^|;)\s*label=([A-Za-z0-9._-]+)", value or "")
    return m.group(1) if m else None


class Client:
    """One keep-alive connection to the edge, reopened after an error."""

    def __init__(self, host, port, who):
        self.host, self.port, self.who = host, port, who
        self.conn = None

    def get(self, path, record=True):
        t0 = time.time()
        status, label, body = 0, None, b""
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self.conn.request("GET", path, headers={"User-Agent": "edge-test/" + self.who,
                                                        "Accept-Encoding": "identity"})
                r = self.conn.getresponse()
                body = r.read()
                status, label = r.status, cut_label(r.getheader("X-PREP-Cut"))
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (OSError, http.client.HTTPException) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                # A keep-alive connection the edge closed while idle is
                # retried once on a new one, as browsers do; a second
                # failure is the answer.
                if attempt == 2:
                    status, body = -1, str(e).encode()
        t1 = time.time()
        if record:
            with lock:
                responses.append((t0, t1, self.who, path, status, label))
        return status, label, body


def poller(host, port, who):
    c = Client(host, port, who)
    while not stop.is_set():
        c.get("/")
        c.get("/assets/data.json")
        stop.wait(0.1)


def visitor(host, port, who, seed):
    rnd = random.Random(seed)
    c = Client(host, port, who)
    n = 0
    while not stop.is_set():
        n += 1
        t = time.time()
        ok, reason = True, ""

        def need(path):
            nonlocal ok, reason
            st, _, body = c.get(path)
            if st not in (200, 304) and ok:
                ok, reason = False, f"{path} answered {st}"
            return body if st == 200 else b""

        page = need("/").decode("utf-8", "replace")
        refs = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
        if ok and not any(r.startswith("main.") for r in refs):
            ok, reason = False, "the page names no main.<hash>.js"
        if n % 2 == 0:
            stop.wait(rnd.uniform(0, 2))
        lazy = []
        for ref in refs:
            body = need("/" + ref).decode("utf-8", "replace")
            if ref.startswith("main."):
                chunks = re.findall(r"import\('\./([^']+\.js)'\)", body)
                if ok and len(chunks) != 2:
                    ok, reason = False, f"{ref} names no chunk and lazy route"
                for ch in chunks:
                    if ch.startswith("lazy-"):
                        lazy.append(ch)
                    else:
                        need("/" + ch)
        need("/assets/data.json")
        if lazy:
            # The visitor reads the page for 4 to 8 s before moving on to
            # the lazy route: long enough for the next cut to reach every
            # origin.
            stop.wait(rnd.uniform(4, 8))
            for ch in lazy:
                need("/" + ch)
        with lock:
            visits.append((t, who, ok, reason))
        stop.wait(0.05)


def watcher(origins):
    offsets = {name: 0 for name, _, _ in origins}
    pat = re.compile(rb"ingest publish seq=\d+ cut=([A-Za-z0-9._-]+)")
    while not stop.is_set():
        for name, _, logf in origins:
            try:
                with open(logf, "rb") as f:
                    f.seek(offsets[name])
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1
            offsets[name] += end
            now = time.time()
            for m in pat.finditer(data[:end]):
                with lock:
                    published.setdefault((name, m.group(1).decode()), now)
        time.sleep(0.02)


def drop(spool, path):
    base = os.path.basename(path)
    tmp = os.path.join(spool, "." + base)
    shutil.copyfile(path, tmp)
    os.rename(tmp, os.path.join(spool, base))


def backwards(rows):
    """Responses (t0, t1, label) where one that started after another had
    ended names an older cut: (earlier, later) pairs, at most 5."""
    rows = sorted(rows)
    by_end = sorted(rows, key=lambda r: r[1])
    bad, best, j = [], None, 0
    for t0, t1, label in rows:
        while j < len(by_end) and by_end[j][1] < t0:
            if best is None or by_end[j][2] > best[2]:
                best = by_end[j]
            j += 1
        if best and label < best[2] and len(bad) < 5:
            bad.append((best, (t0, t1, label)))
    return bad


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edge", required=True)
    ap.add_argument("--pkgs", required=True)
    ap.add_argument("--origin", action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--period", type=float, default=4)
    ap.add_argument("--spreads", default="15,15,15,15,15,0,3,0,3,0")
    ap.add_argument("--tail", type=float, default=3)
    ap.add_argument("--stop")
    ap.add_argument("--browser")
    ap.add_argument("--visitors", type=int, default=1)
    ap.add_argument("--pollers", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.edge)
    if u.hostname not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("edge.py: the edge must be on loopback")
    origins = []
    for o in a.origin:
        parts = o.split("=")
        if len(parts) != 3:
            sys.exit(f"edge.py: --origin {o}: want NAME=SPOOL=LOG")
        origins.append(tuple(parts))
    spreads = [float(x) for x in a.spreads.split(",")]
    if len(origins) < 2:
        sys.exit("edge.py: two origins at least")
    cuts = []
    with open(a.pkgs) as f:
        for line in f:
            f6 = line.split()
            if len(f6) == 6:
                cuts.append({"label": f6[1], "path": f6[2]})
    if len(cuts) < 2:
        sys.exit("edge.py: the list needs the served cut and one to publish")
    labels = [c["label"] for c in cuts]
    if labels != sorted(labels):
        sys.exit("edge.py: the cuts must be listed oldest first")

    # Cut i reaches the first origin at t_i, the last one SPREAD seconds
    # later and those between 3 s after the first (or SPREAD, if less).
    # Cuts follow each other every PERIOD seconds, overlapping, but each
    # origin gets them in order, 1 s apart at least (an older cut after a
    # newer one is refused, rightly, and would not be published).
    plan, t_prev, off_prev = [], None, None
    for i, c in enumerate(cuts[1:]):
        sp = spreads[i % len(spreads)]
        off = [0.0] + [min(3.0, sp)] * (len(origins) - 2) + [sp]
        t = 0.0 if t_prev is None else max(
            [t_prev + a.period] + [t_prev + po + 1 - o for po, o in zip(off_prev, off)])
        for (name, spool, _), o in zip(origins, off):
            plan.append((t + o, name, spool, c))
        t_prev, off_prev = t, off
    plan.sort(key=lambda p: p[0])
    if plan[-1][0] + a.tail > a.max_seconds:
        sys.exit("edge.py: the plan is longer than --max-seconds")

    threads = [threading.Thread(target=watcher, args=(origins,), daemon=True)]
    for k in range(a.pollers):
        threads.append(threading.Thread(target=poller, args=(u.hostname, u.port, f"poll{k}"),
                                        daemon=True))
    for k in range(a.visitors):
        threads.append(threading.Thread(target=visitor, args=(u.hostname, u.port, f"visit{k}", k),
                                        daemon=True))
    for t in threads:
        t.start()
    time.sleep(1)   # the edge's current cut, before anything changes
    t0 = time.time()
    dropped = {}
    for at, name, spool, c in plan:
        delay = t0 + at - time.time()
        if delay > 0:
            time.sleep(delay)
        drop(spool, c["path"])
        dropped[(name, c["label"])] = time.time()
        print(f"edge drop t={time.time() - t0:.1f} origin={name} cut={c['label']}", flush=True)
    # Wait for every origin's publish line (or the bound), then the tail.
    deadline = t0 + a.max_seconds
    want = {(n, c["label"]) for n, _, _ in origins for c in cuts[1:]}
    while time.time() < deadline:
        with lock:
            if want <= set(published):
                break
        time.sleep(0.05)
    time.sleep(a.tail)
    stop.set()
    if a.stop:
        open(a.stop, "w").close()
    for t in threads:
        t.join(timeout=10)
    browser = []
    if a.browser:
        for _ in range(300):   # the browser ends its page load, then writes
            if os.path.exists(a.browser + ".done"):
                break
            time.sleep(0.1)
        if os.path.exists(a.browser):
            with open(a.browser) as f:
                browser = [json.loads(x) for x in f if x.strip()]

    with lock:
        rs = list(responses)
        vs = list(visits)
        pub = dict(published)
    checks = []

    def check(name, good, detail):
        checks.append((name, good, detail))

    # Figures.
    edge_n = len(rs)
    by_status = {}
    for r in rs:
        by_status[r[4]] = by_status.get(r[4], 0) + 1
    missing = sorted(want - set(pub))
    delays = {}
    for c in cuts[1:]:
        lab = c["label"]
        last = max((pub[(n, lab)] for n, _, _ in origins if (n, lab) in pub), default=None)
        # Visible: from when every response for the page and the JSON
        # names this cut or a newer one (the first that did, or the end of
        # the last that named an older cut, whichever is later).
        per = [r for r in rs if r[3] in ("/", "/assets/data.json") and r[4] == 200 and r[5]]
        first = min((r[1] for r in per if r[5] >= lab), default=None)
        older = max((r[1] for r in per if r[5] < lab), default=None)
        seen = None if first is None else max(first, older or first)
        delays[lab] = (last, seen)
    lag = [s - l for l, s in delays.values() if l is not None and s is not None]
    print(f"edge figures requests={edge_n} statuses="
          + ",".join(f"{k}:{v}" for k, v in sorted(by_status.items()))
          + f" visits={len(vs)} browser_loads={len(browser)} cuts={len(cuts) - 1}")
    for lab, (last, seen) in delays.items():
        firsts = " ".join(f"{n}={pub[(n, lab)] - t0:.2f}" if (n, lab) in pub else f"{n}=never"
                          for n, _, _ in origins)
        vis = f"{seen - t0:.2f}" if seen else "never"
        d = f"{seen - last:+.2f}" if seen and last else "n/a"
        print(f"edge cut={lab} published_s {firsts} edge_s={vis} after_last_origin_s={d}")
    if lag:
        print(f"edge publish-to-edge after the last origin: n={len(lag)} min={min(lag):+.2f} "
              f"p50={pct(lag, 50):+.2f} p90={pct(lag, 90):+.2f} max={max(lag):+.2f} s")

    # Assertions.
    check("setup", not missing, f"publish lines missing for {missing[:4]}" if missing
          else f"every origin logged every cut ({len(want)} publishes)")
    bad = [r for r in rs if r[4] not in (200, 304)]
    bad_b = [x for x in browser if x.get("bad_status")]
    detail = "; ".join(f"{r[3]} -> {r[4]} at {r[1] - t0:.1f}s" for r in bad[:5])
    detail += "; ".join(f"browser {x['bad_status'][:3]}" for x in bad_b[:3])
    check("statuses", not bad and not bad_b,
          detail or f"{edge_n} crawler responses, {sum(x.get('responses', 0) for x in browser)} "
          f"browser responses, all 200/304")
    blank = [v for v in vs if not v[2]]
    blank_b = [x for x in browser if not x.get("ok")]
    detail = "; ".join(f"visit at {v[0] - t0:.1f}s: {v[3]}" for v in blank[:4])
    detail += "; ".join(f"browser at {x['t'] - t0:.1f}s: {x.get('why')}" for x in blank_b[:4])
    check("blank", not blank and not blank_b and len(vs) > 0,
          detail or f"{len(vs)} crawler visits and {len(browser)} browser loads, none blank")
    # The page and the JSON together: a page of a newer cut followed by a
    # JSON of an older one is the edge going back too.
    per_cut = ("/", "/assets/data.json")
    rows = [(r[0], r[1], r[5]) for r in rs if r[3] in per_cut and r[4] == 200 and r[5]]
    back = [("page and JSON", x, y) for x, y in backwards(rows)]
    brows = [(x["t"], x["t_end"], x["cut"]) for x in browser if x.get("cut")]
    back += [("browser", x, y) for x, y in backwards(brows)]
    detail = "; ".join(f"{p}: {x[2]} at {x[1] - t0:.2f}s then {y[2]} at {y[0] - t0:.2f}s"
                       for p, x, y in back[:4])
    check("forward", not back, detail or "the edge's cut never went backwards")
    late = [(lab, l, s) for lab, (l, s) in delays.items()
            if l is None or s is None or s - l > VISIBLE_WITHIN_S]
    detail = "; ".join(f"{lab}: " + ("never published everywhere" if l is None else
                                     "never at the edge" if s is None else f"{s - l:+.2f}s")
                       for lab, l, s in late[:5])
    check("visible", not late, detail or
          f"every cut at the edge within {VISIBLE_WITHIN_S:g}s of the last origin "
          f"(max {max(lag):+.2f}s)" if lag else detail or "no cut")
    for name, good, d in checks:
        print(f"check {name} {'ok' if good else 'fail'} {d}")

    with open(a.out, "w") as f:
        json.dump({"t0": t0, "requests": edge_n, "statuses": by_status,
                   "visits": len(vs), "browser_loads": len(browser),
                   "delays": {k: [v[0] and v[0] - t0, v[1] and v[1] - t0]
                              for k, v in delays.items()},
                   "lag": lag, "dropped": {f"{k[0]}:{k[1]}": v - t0 for k, v in dropped.items()},
                   "checks": {n: g for n, g, _ in checks}}, f, indent=1)
    return 0 if all(g for _, g, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
