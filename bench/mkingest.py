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
body from one cut under the header of another.

With --large (bench/ingest's compressible, restart and memory rows):
OUTDIR/csv-100MB/20240602_2230_PREP_PRES_NAL.tar.gz: the full site plus
a 100 MB CSV of results (compressible, as the institute's database is when
it is not zipped again), about 28 MB as a .tar.gz;
OUTDIR/csv-100MB-zip/20240602_2230_PREP_PRES_NAL.zip: the same files
deflated in a zip;
OUTDIR/site-40k/A/20240602_2300_PREP_PRES_NAL.zip and .../B/..._2305...:
two full sites of 40,000 JSON files (976 MiB each, about 25 KB a file), B
with other bytes in every file, to replace each other (not with --no-40k)."""
import io
import json
import os
import tarfile
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


PARTIDOS = ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "NULOS", "NO_REG")


def csv_100mb(path, label, size=100 << 20):
    """A results CSV: one row per acta, digits and repeated names, which
    gzip takes to about a quarter, like the institute's database."""
    rng = random.Random(7)
    head = ("CLAVE_CASILLA,CLAVE_ACTA,ID_ENTIDAD,ENTIDAD,ID_DISTRITO,DISTRITO,SECCION,"
            "TIPO_CASILLA," + ",".join(PARTIDOS) + ",TOTAL,LISTA_NOMINAL,OBSERVACIONES,"
            "FECHA_HORA\n").encode()
    ents = ["AGUASCALIENTES", "BAJA CALIFORNIA", "CHIAPAS", "CHIHUAHUA", "CIUDAD DE MEXICO",
            "GUANAJUATO", "JALISCO", "MEXICO", "NUEVO LEON", "OAXACA", "PUEBLA", "VERACRUZ"]
    obs = ["Acta capturada", "Sin acta", "Ilegible", "Acta capturada", "Todos los campos ilegibles"]
    rows = []
    for i in range(20000):
        e = rng.randrange(len(ents))
        votes = [rng.randint(0, 350) for _ in PARTIDOS]
        rows.append((f"{e + 1:02d}{rng.randint(1, 9999):04d}B0100,{rng.randint(1, 999999):06d},"
                     f"{e + 1},{ents[e]},{rng.randint(1, 40)},DISTRITO {rng.randint(1, 40)},"
                     f"{rng.randint(1, 6000)},B," + ",".join(map(str, votes)) +
                     f",{sum(votes)},{rng.randint(300, 750)},{rng.choice(obs)},"
                     f"02/06/2024 {rng.randint(20, 23)}:{rng.randint(0, 59):02d}\n").encode())
    buf = bytearray(head)
    while len(buf) < size:
        buf += rows[rng.randrange(len(rows))]
    del buf[size:]
    site = io.BytesIO()
    full(site, label, 0)
    with tarfile.open(path, "w:gz", compresslevel=6) as t:
        with zipfile.ZipFile(site) as z:
            for zi in z.infolist():
                if zi.filename.startswith("datos/"):
                    continue
                data = z.read(zi)
                ti = tarfile.TarInfo(zi.filename)
                ti.size, ti.mtime = len(data), 1717387200
                t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo(f"datos/{label}_PREP_PRES.csv")
        ti.size, ti.mtime = len(buf), 1717387200
        t.addfile(ti, io.BytesIO(bytes(buf)))


def tar_to_zip(src, dst):
    """The same files as the .tar.gz, deflated in a zip (level 6)."""
    with tarfile.open(src) as t, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for m in t.getmembers():
            z.writestr(info(m.name), t.extractfile(m).read())


def site_40k(path, label, seed, files=40000, total=976 << 20):
    """40,000 JSON files of about 25 KB each (976 MiB), every one naming
    label so two sites share no entry."""
    rng = random.Random(seed)
    per = total // files
    pool = "".join(f'{{"seccion":{rng.randint(1, 6000)},"casilla":"B{rng.randint(1, 9)}",'
                   f'"votos":[{",".join(str(rng.randint(0, 400)) for _ in PARTIDOS)}]}},'
                   for _ in range(40000)).encode()
    with zipfile.ZipFile(path, "w", compresslevel=1) as z:
        z.writestr(info("index.html"), (
            '<!doctype html><html lang="es"><head><meta charset="utf-8"><base href="/">'
            f'<title>PREP</title></head><body><app-root></app-root><p>{label}</p>'
            '</body></html>\n').encode())
        z.writestr(info("assets/json/nacional.json"), national(label))
        for i in range(files - 2):
            head = f'{{"corte":"{label}","archivo":{i},"casillas":['.encode()
            at = rng.randrange(len(pool) - per)
            body = head + pool[at:at + per - len(head) - 3] + b"{}]}"
            z.writestr(info(f"assets/json/secciones/{i // 1000:02d}/{i:05d}.json"), body)


def main():
    large = "--large" in sys.argv[1:]
    no_40k = "--no-40k" in sys.argv[1:]
    out = [a for a in sys.argv[1:] if not a.startswith("--")][0]
    for d in ("full-10MB", "full-100MB", "json-only", "swaps"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    full(os.path.join(out, "full-10MB", "20240602_2200_PREP_PRES_NAL.zip"), "20240602_2200", 10 << 20)
    full(os.path.join(out, "full-100MB", "20240602_2205_PREP_PRES_NAL.zip"), "20240602_2205", 100 << 20)
    incremental(os.path.join(out, "json-only", "20240602_2215_PREP_PRES_NAL.zip"), "20240602_2215")
    for i in range(1, 1001):
        incremental(os.path.join(out, "swaps", f"swap_{i:04d}.zip"), f"swap_{i:04d}")
    os.makedirs(os.path.join(out, "small-full"), exist_ok=True)
    full(os.path.join(out, "small-full", "20240602_2310_PREP_PRES_NAL.zip"), "20240602_2310", 0)
    if not large:
        return
    os.makedirs(os.path.join(out, "csv-100MB"), exist_ok=True)
    csv_100mb(os.path.join(out, "csv-100MB", "20240602_2230_PREP_PRES_NAL.tar.gz"), "20240602_2230")
    os.makedirs(os.path.join(out, "csv-100MB-zip"), exist_ok=True)
    tar_to_zip(os.path.join(out, "csv-100MB", "20240602_2230_PREP_PRES_NAL.tar.gz"),
               os.path.join(out, "csv-100MB-zip", "20240602_2230_PREP_PRES_NAL.zip"))
    for sub, label, seed in () if no_40k else (("A", "20240602_2300", 1), ("B", "20240602_2305", 2)):
        os.makedirs(os.path.join(out, "site-40k", sub), exist_ok=True)
        site_40k(os.path.join(out, "site-40k", sub, f"{label}_PREP_PRES_NAL.zip"), label, seed)


if __name__ == "__main__":
    main()
