#!/usr/bin/env python3
"""Packages for bench/ingest (stdlib only, deterministic):

  mkingest.py OUTDIR

OUTDIR/full-10MB/20240602_2200_PREP_PRES_NAL.zip and OUTDIR/full-100MB/...:
full packages (index.html, a 300 KB bundle, 365 JSON files, and a nested
database zip of incompressible bytes making up the size, as real ones are);
OUTDIR/json-only/20240602_2215_PREP_PRES_NAL.zip: an incremental package
holding only the national JSON; OUTDIR/swaps/swap_NNNN.zip: 1,000
incremental packages whose assets/json/nacional.json says
"corte": "swap_NNNN", the label prepd gives each, so a client can tell a
body from one cut under the header of another."""
import json
import os
import random
import sys
import zipfile

ZIP_DATE = (2024, 6, 2, 22, 0, 0)


def info(name, stored=False):
    zi = zipfile.ZipInfo(name, ZIP_DATE)
    zi.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    return zi


def national(label):
    rng = random.Random(label)
    return json.dumps({"corte": label, "ultimoCorte": {"fecha": "02/06/2024", "hora": "22:15"},
                       "actas": rng.randint(1, 170000),
                       "votos": [{"partido": p, "votos": rng.randint(0, 10**7)}
                                 for p in ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA")]},
                      separators=(",", ":")).encode()


def full(path, label, size):
    rng = random.Random(size)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info("index.html"), (
            '<!doctype html><html lang="es"><head><meta charset="utf-8"><base href="/">'
            f'<title>PREP</title></head><body><app-root></app-root><p>{label}</p>'
            '<script src="main.0123456789abcdef.js"></script></body></html>\n').encode())
        js = "".join(f"function f{i}(a,b){{return a*{i}+b-{rng.randint(0, 999)};}}\n"
                     for i in range(7000)).encode()
        z.writestr(info("main.0123456789abcdef.js"), js)
        z.writestr(info("assets/json/nacional.json"), national(label))
        for e in range(32):
            z.writestr(info(f"assets/json/estados/{e:02d}.json"),
                       json.dumps({"entidad": e, "votos": [rng.randint(0, 10**6) for _ in range(40)]}).encode())
        for d in range(332):
            z.writestr(info(f"assets/json/distritos/{d:03d}.json"),
                       json.dumps({"distrito": d, "votos": [rng.randint(0, 10**5) for _ in range(20)]}).encode())
        filler = max(0, size - 700 * 1024)
        z.writestr(info(f"datos/{label}_PREP_PRES.zip", stored=True), rng.randbytes(filler))


def incremental(path, label):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info("assets/json/nacional.json"), national(label))


def main():
    out = sys.argv[1]
    for d in ("full-10MB", "full-100MB", "json-only", "swaps"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    full(os.path.join(out, "full-10MB", "20240602_2200_PREP_PRES_NAL.zip"), "20240602_2200", 10 << 20)
    full(os.path.join(out, "full-100MB", "20240602_2205_PREP_PRES_NAL.zip"), "20240602_2205", 100 << 20)
    incremental(os.path.join(out, "json-only", "20240602_2215_PREP_PRES_NAL.zip"), "20240602_2215")
    for i in range(1, 1001):
        incremental(os.path.join(out, "swaps", f"swap_{i:04d}.zip"), f"swap_{i:04d}")


if __name__ == "__main__":
    main()
