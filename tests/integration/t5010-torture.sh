#!/usr/bin/env bash
# Nothing lost under kill -9: 200 packages (timestamped and fixed names,
# good and bad, with and without sidecars, some names renamed in again and
# again) dropped into the spool and sent as admin uploads while prepd is
# killed with SIGKILL ten times and restarted. Afterwards every package
# that arrived (every spool drop, every upload answered 2xx) is in
# history/ or quarantine/ with a journal line whose SHA-256 matches its
# bytes, and a poller running the whole time saw the served cut
# (X-PREP-Cut) never go backwards and end on the newest good one.
#
# Cut times come from the package's JSON (R8) and rise with every package,
# so "backwards" means an older cut replaced a newer one.
. "$(dirname "$0")/lib.sh"

python3 - "$PREPD" "$T" <<'PY'
import hashlib, http.client, io, json, os, random, re, signal, socket, subprocess
import sys, threading, time, urllib.request, zipfile

prepd, T = sys.argv[1], sys.argv[2]
rnd = random.Random(5010)
spool, data = f"{T}/spool", f"{T}/var"
os.makedirs(spool)
os.makedirs(data)
checks = 0

def ok(msg):
    global checks
    checks += 1
    print(f"ok {checks} - {msg}", flush=True)

def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    for name in sorted(os.listdir(T)):
        if name.endswith(".log"):
            with open(f"{T}/{name}", errors="replace") as f:
                lines = f.readlines()
            print(f"--- {name}, last lines:", file=sys.stderr)
            sys.stderr.writelines(lines[-15:])
    sys.exit(1)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

http_port, admin_port = free_port(), free_port()
cfg = f"{T}/prepd.ini"
with open(cfg, "w") as f:
    f.write("[ingest]\nevidence_wait = 1\n"
            "cut_json = /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json\n"
            "cut_key = ultimoCorte\n")

# ---- the packages -------------------------------------------------------
def site(i):
    hh, mm = divmod(20 * 60 + i, 60)
    hora = f"{hh:02d}:{mm:02d}"
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.html", f'<!doctype html><html><head><base href="/"><title>PREP</title>'
                   f'</head><body>corte {hora} paquete {i}</body></html>\n')
        z.writestr("assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json",
                   json.dumps({"ultimoCorte": {"fecha": "02/06/2024", "hora": hora}, "n": i}))
        z.writestr(f"assets/extra/{i}.txt", os.urandom(64).hex())
    return b.getvalue(), f"2024-06-02T{hora}", f"20240602_{hh:02d}{mm:02d}"

# kind by i % 10: spool timestamped good (0-4), spool fixed name good (5),
# spool bad archive with a true sidecar (6), spool good without sidecar (7),
# upload fixed name good (8), upload with a wrong sidecar (9).
plan = []
for i in range(200):
    body, ctime, stamp = site(i)
    k = i % 10
    if k == 6:
        body = body[: len(body) // 2]   # a zip cut inside its entries
    name = {5: "PREP_AYUN_JAL.zip", 8: "UPLOAD_PREP.zip"}.get(k, f"{stamp}_PREP_PRES_NAL.zip")
    good = k in (0, 1, 2, 3, 4, 5, 8)
    plan.append(dict(i=i, kind=k, name=name, body=body, time=ctime, good=good,
                     sha=hashlib.sha256(body).hexdigest()))

arrived = []   # sha256 of every package that arrived
newest_good = None

def side(p, wrong=False):
    sha = hashlib.sha256(b"not it" if wrong else p["body"]).hexdigest()
    return f"{sha}  {p['name']}\n".encode()

def drop(name, body):
    tmp = f"{spool}/.t{rnd.random()}"
    with open(tmp, "wb") as f:
        f.write(body)
    os.rename(tmp, f"{spool}/{name}")

def upload(name, body):
    c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    try:
        c.request("PUT", f"/upload/{name}", body=body, headers={"Authorization": f"Bearer {token()}"})
        return c.getresponse().status
    except OSError:
        return None
    finally:
        c.close()

_token = []
def token():
    if not _token:
        with open(f"{data}/admin.token") as f:
            _token.append(f.read().strip())
    return _token[0]

def send(p):
    global newest_good
    k = p["kind"]
    if k == 8 or k == 9:
        st = upload(p["name"] + ".sha256", side(p, wrong=(k == 9)))
        if st != 201:
            return False   # not stored: the package is not sent either
        st = upload(p["name"], p["body"])
        if st != 202:
            return False
    else:
        if k != 7:
            drop(p["name"] + ".sha256", side(p))   # the sidecar first
        drop(p["name"], p["body"])
        if p["i"] % 25 == 0:   # the same package renamed in once more
            drop(p["name"] + ".sha256", side(p))
            drop(p["name"], p["body"])
    arrived.append(p["sha"])
    if p["good"]:
        newest_good = p["time"]
    return True

# ---- prepd, killed and restarted ------------------------------------------
proc = None
def start(n):
    global proc
    log = open(f"{T}/prepd{n}.log", "w")
    proc = subprocess.Popen([prepd, "--http", f"127.0.0.1:{http_port}", "--data", data,
                             "--spool", spool, "--admin", f"127.0.0.1:{admin_port}",
                             "--verify", "sha256", "--config", cfg],
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        with open(f"{T}/prepd{n}.log", errors="replace") as f:
            if "server ready" in f.read():
                return
        if proc.poll() is not None:
            fail(f"prepd run {n} exited before it was ready")
        time.sleep(0.05)
    fail(f"prepd run {n} not ready after 10 s")

seen, stop_poll = [], threading.Event()
def poller():
    while not stop_poll.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            seen.append(r.getheader("X-PREP-Cut") or "")
            c.close()
        except OSError:
            pass
        time.sleep(0.02)

start(0)
th = threading.Thread(target=poller, daemon=True)
th.start()
sent = 0
for kill in range(10):
    # 20 packages, then a SIGKILL at some point of the next burst.
    batch = plan[kill * 20:(kill + 1) * 20]
    at = rnd.randrange(5, 20)
    for j, p in enumerate(batch):
        if j == at:
            time.sleep(rnd.random() * 0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            start(kill + 1)
        if send(p):
            sent += 1
        time.sleep(rnd.random() * 0.03)
ok(f"200 packages sent ({sent} arrived) across 10 kill -9 and restarts")

# Quiet: the spool and DATA/incoming empty, packages without a sidecar
# refused, then a clean stop.
for _ in range(300):
    if not [n for n in os.listdir(spool) if not n.endswith(".sha256")] and \
       not [n for n in os.listdir(f"{data}/incoming") if not n.endswith(".sha256")]:
        break
    time.sleep(0.1)
time.sleep(2.5)   # evidence_wait for the last ones, and a few polls
stop_poll.set()
th.join()
proc.send_signal(signal.SIGTERM)
if proc.wait() != 0:
    fail("prepd did not stop cleanly")

left = [n for n in os.listdir(spool) + os.listdir(f"{data}/incoming") if not n.endswith(".sha256")]
if left:
    fail(f"packages never taken: {left}")
ok("every package was taken from the spool and DATA/incoming")

# ---- every byte that arrived is kept, with a journal line that says so --
lines = []
with open(f"{data}/journal.log") as f:
    for line in f:
        m = re.search(r" sha256=([0-9a-f]{64}) .* file=(\S+) ", line)
        if m:
            lines.append((m.group(1), m.group(2)))
kept = {}
for sha, path in lines:
    if path == "-":
        continue
    with open(f"{data}/{path}", "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() == sha:
            kept.setdefault(sha, []).append(path)
missing = [s for s in set(arrived) if s not in kept]
if missing:
    fail(f"{len(missing)} arrived packages have no kept file with a matching journal line")
ok(f"every package that arrived ({len(set(arrived))} distinct) is kept with a journal line whose hash matches")
need = {}
for s in arrived:
    need[s] = need.get(s, 0) + 1
short = [s for s, n in need.items() if len(kept.get(s, [])) < n]
if short:
    fail(f"{len(short)} packages that arrived more than once are kept fewer times than they arrived")
ok("a package that arrived twice is kept twice")
for sha, path in lines:
    if path != "-" and not (path.startswith("history/") or path.startswith("quarantine/")):
        fail(f"journal names {path}")
bad_journal = subprocess.run([prepd, "history", "--data", data], capture_output=True)
if bad_journal.returncode != 0:
    fail(f"prepd history: {bad_journal.stderr.decode()}")
ok("the journal reads back whole")

# ---- the cut served ---------------------------------------------------------
times = []
for h in seen:
    # YYYY-MM-DDTHH:MM: every cut of the run is in the one zone, so the
    # UTC offset after it (-06:00) adds nothing to the order.
    m = re.search(r"time=(\d{4}-\d\d-\d\dT\d\d:\d\d)", h)
    times.append(m.group(1) if m else "")
first = next((k for k, t in enumerate(times) if t), None)
if first is None:
    fail("the poller never saw a cut")
for a, b in zip(times[first:], times[first + 1:]):
    if not b or b < a:
        fail(f"the served cut went backwards: {a} then {b or 'placeholder'}")
ok(f"the served cut never went backwards ({len(seen)} polls)")
if times[-1] != newest_good:
    fail(f"the cut served at the end is {times[-1]}, the newest good one is {newest_good}")
ok(f"the cut served at the end is the newest good one ({newest_good})")
print(f"{checks} passed, 0 failed")
PY
