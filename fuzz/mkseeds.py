#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the unit tests' tables.

Each unit test's table (tests/unit/test-*.c) is read as C: #include lines
are dropped, the rest goes through the C preprocessor (so the tests' own
macros expand as the compiler expands them), and the table's initializer
is parsed into rows. A rule per table turns a row into one input of a
target (fuzz/fuzz-NAME.c says the input's shape: parts separated by NUL).
A few seeds no table holds (a small tar, a zip, PROXY v2 headers) are
built here from their specifications.

Seeds are written as fuzz/corpus/NAME/seed-<sha1 of the bytes>, so a run
adds only what is new; nothing is removed. Usage: fuzz/mkseeds.py [ROOT]
"""
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
import gzip

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
UNIT = os.path.join(ROOT, "tests", "unit")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
SEED_MAX = 64 << 10

TOKEN = re.compile(r'''
    (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<chr>'(?:[^'\\\n]|\\.)+')
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<punct>\S)
''', re.X)

ESC = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39, "a": 7,
       "b": 8, "f": 12, "v": 11, "?": 63, "e": 27}


def c_string(lit):
    """The bytes of a C string literal (without its quotes)."""
    out = bytearray()
    s = lit[1:-1]
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        else:
            out.append(ESC[n])
            i += 2
    return bytes(out)


def preprocess(path):
    src = open(path, encoding="utf-8").read()
    src = re.sub(r"^\s*#\s*include.*$", "", src, flags=re.M)
    return subprocess.run(["cpp", "-P", "-w", "-x", "c", "-"], input=src,
                          capture_output=True, text=True, check=True).stdout


def tokens(text):
    """Tokens, with adjacent string literals joined as C joins them."""
    out = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        v = m.group(kind)
        if kind == "str":
            b = c_string(v)
            if out and isinstance(out[-1], bytes):
                out[-1] += b
            else:
                out.append(b)
        elif kind == "num":
            v = v.rstrip("uUlL")
            out.append(int(v, 16) if v[:2] in ("0x", "0X") else
                       int(v, 8) if len(v) > 1 and v[0] == "0" else int(v))
        else:
            out.append(v)
    return out


def group(toks, i):
    """Parses the brace group at toks[i] == '{' into a list of elements,
    each a list of items (bytes, int, identifier, or a nested group).
    Returns (elements, index after the closing brace)."""
    assert toks[i] == "{"
    elems, cur = [], []
    i += 1
    while toks[i] != "}":
        t = toks[i]
        if t == "{":
            g, i = group(toks, i)
            cur.append(g)
            continue
        if t == ",":
            elems.append(cur)
            cur = []
        else:
            cur.append(t)
        i += 1
    if cur:
        elems.append(cur)
    return elems, i + 1


def table(test, name, after=None):
    """The rows of array `name` in tests/unit/test-TEST.c (the first one
    after the identifier `after` when given)."""
    toks = tokens(preprocess(os.path.join(UNIT, "test-%s.c" % test)))
    start = toks.index(after) if after else 0
    for i in range(start, len(toks) - 4):
        if toks[i] == name and toks[i + 1:i + 4] == ["[", "]", "="] and toks[i + 4] == "{":
            rows, _ = group(toks, i + 4)
            return [r[0] if len(r) == 1 and isinstance(r[0], list) else r for r in rows]
    raise SystemExit("mkseeds: no table %s in test-%s.c; update fuzz/mkseeds.py" % (name, test))


def flat(row):
    for x in row:
        if isinstance(x, list):
            yield from flat(x)
        else:
            yield x


def strs(row):
    """The strings of a row in order; NULL and numbers are left out."""
    return [x for x in flat(row) if isinstance(x, bytes)]


def first_ints(row):
    """The first nested group made only of numbers, as bytes (B(...))."""
    for x in row:
        if isinstance(x, list):
            vals = list(flat(x))
            if vals and all(isinstance(v, int) for v in vals):
                return bytes(v & 0xFF for v in vals)
            got = first_ints(x)
            if got is not None:
                return got
    return None


seeds = {}


def seed(target, data):
    if data is None or len(data) > SEED_MAX:
        return
    seeds.setdefault(target, set()).add(bytes(data))


def nul(*parts):
    return b"\0".join(parts)


# ---- path: one string
for r in table("path", "req") + table("path", "pkg") + table("path", "exts"):
    seed("path", strs(r)[0])

# ---- hdr: up to four values
for t in ("ae", "hosts", "cls", "targets", "dates"):
    for r in table("hdr", t):
        for s in strs(r)[:1]:
            seed("hdr", s)
for r in table("hdr", "tes"):
    seed("hdr", nul(*strs(r)))
for r in table("hdr", "inm"):
    seed("hdr", nul(*strs(r)))
for r in table("range", "table"):
    for s in strs(r)[:1]:
        seed("hdr", s)

# ---- rules: PATTERN NAME VALUE [PATTERN NAME VALUE] PATH
paths = [strs(r)[0] for r in table("rules", "classes")]
for r in table("rules", "bad"):
    seed("rules", nul(*strs(r)[:3], b"/x"))
for p in paths:
    seed("rules", nul(b"/*", b"Cache-Control", b"max-age=5", b"/" + p))
    seed("rules", p)
seed("rules", nul(b"/json/main.json", b"Cache-Control", b"no-cache",
                  b"/json/*", b"Access-Control-Allow-Origin", b"*", b"/json/main.json"))

# ---- config: an INI file; SECTION NUL KEY NUL VALUE
for r in table("config", "bad"):
    seed("config", strs(r)[0])
for r in table("config", "la"):
    seed("config", strs(r)[0])
    seed("config", b"[server]\nhttp = " + strs(r)[0] + b"\n")
    seed("config", nul(b"server", b"http", strs(r)[0]))
example = open(os.path.join(ROOT, "prepd.ini.example"), "rb").read()
seed("config", example)
# The example with every commented-out key set: each row's parser.
seed("config", re.sub(rb"(?m)^;\s*(\w+\s*=)", rb"\1", example))

# ---- cut: NAME (also JSON) NUL KEY NUL TIME
for r in table("cut", "table"):
    seed("cut", strs(r)[0])
for r in table("cut", "times"):
    s = strs(r)
    seed("cut", nul(s[0], s[1]))
for r in table("cut", "stamps"):
    seed("cut", nul(b"20240602_2215_PREP.zip", b"horaCorte", strs(r)[0]))

# ---- journal: a whole journal.log
rows = table("store", "torn_table")
good = strs(rows[0])[0]
for r in rows:
    seed("journal", strs(r)[0])
for r in table("store", "bad", after="test_journal_damage"):
    for s in strs(r)[:1]:
        seed("journal", good + s + b"\n")

# ---- sidecar: the evidence; the package is fuzz-sidecar.c's
PKG = b"20240602_2215_PREP_PRES_NAL.zip"
pkg_hex = hashlib.sha256(b"prepd fuzz package\n").hexdigest().encode()
wrong_hex = hashlib.sha256(b"another package\n").hexdigest().encode()
subst = {b"{H}": pkg_hex, b"{U}": pkg_hex.upper(), b"{W}": wrong_hex,
         b"{V}": wrong_hex.upper(), b"{N}": PKG}
for r in table("verify", "sidecars"):
    text = strs(r)[1]
    for k, v in subst.items():
        text = text.replace(k, v)
    seed("sidecar", text)

# ---- admin: NAME-or-AUTH NUL TOKEN-FILE
for r in table("admin_check", "names"):
    seed("admin", nul(strs(r)[0], b"0123456789abcdef\n"))
for r in table("admin_check", "tokens"):
    seed("admin", nul(b"Bearer 0123456789abcdef", strs(r)[0]))
for r in table("admin_check", "auths"):
    for s in strs(r)[:1]:
        seed("admin", nul(s, b"0123456789abcdef\n"))

# ---- proxy: connection bytes; XFF lines; an address; ranges
for r in table("proxy", "t", after="test_addr_parse"):
    seed("proxy", strs(r)[0])
for r in table("proxy", "parse", after="test_nets"):
    seed("proxy", strs(r)[0])
for r in table("proxy", "t", after="test_xff"):
    s = strs(r)
    seed("proxy", nul(*s[:-1]) if len(s) > 1 else s[0])
for r in table("proxy", "t", after="test_v1"):
    s = strs(r)
    if len(s) > 1:
        seed("proxy", s[1])
for r in table("proxy", "t", after="test_v2"):
    seed("proxy", first_ints(r))

# ---- archives, built from the formats here (the replays and script/fuzz
# also read the generated tests/pkgs and tests/hostile folders)
def tar_bytes(fmt):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in ((b"index.html", b"<!doctype html><title>PREP</title>"),
                           ("estados/Nuevo León/" + "x" * 90 + ".json", b"{}")):
            if isinstance(name, bytes):
                name = name.decode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1717388100
            t.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("assets")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
    return b.getvalue()


for fmt in (tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
    try:
        raw = tar_bytes(fmt)
    except ValueError:   # ustar cannot hold the long name
        continue
    seed("tarscan", raw)
    gz = gzip.compress(raw, mtime=0)
    seed("scan", gz)
    seed("unpack", gz)
z = io.BytesIO()
with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.writestr("index.html", b"<!doctype html><title>PREP</title>")
    zf.writestr("assets/a.json", b"{}" * 50)
    zf.writestr(zipfile.ZipInfo("estados/"), b"")
seed("zipscan", z.getvalue())
seed("unpack", z.getvalue())
for r in table("scan", "t", after="numbers"):
    s = strs(r)
    n = [x for x in flat(r) if isinstance(x, int)]
    seed("tarscan", b"n" + s[0][:n[0]].ljust(n[0], b"\0"))
for r in table("scan", "t", after="pax"):
    g = "true" in [x for x in flat(r) if isinstance(x, str)]
    seed("tarscan", (b"g" if g else b"p") + strs(r)[0])

total = 0
for target, datas in sorted(seeds.items()):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    new = 0
    for data in datas:
        p = os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest())
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
            new += 1
    total += new
    print("mkseeds: %-8s %3d seeds, %d new" % (target, len(datas), new))
print("mkseeds: %d new files" % total)
