#!/usr/bin/env python3
"""Generate test packages (good and hostile) for prepd.

Usage:
    python3 tests/data/mkpkg.py OUTDIR

Writes every package into OUTDIR (created if needed) and prints one line per
package to stdout:

    NAME<TAB>EXPECTED

EXPECTED is "ok" for packages the server must accept, otherwise a substring
of the reason the server must print when it refuses the package.

Output is deterministic: fixed mtimes, fixed owners, seeded pseudo-random
content, gzip headers with a fixed mtime and no file name.  Only the Python
standard library is used.
"""

import argparse
import gzip
import io
import json
import os
import random
import struct
import sys
import tarfile
import warnings
import zipfile
import zlib

# 2024-06-03 04:00:00 UTC
MTIME = 1717387200
# zip stores local time without zone; use the same wall-clock value.
ZIP_DATE = (2024, 6, 3, 4, 0, 0)

JS_NAME = "main.3f2a9c1b8d7e6f50.js"
CSS_NAME = "styles.a1b2c3d4e5f60718.css"
NAT_JSON = "assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json"

ESTADOS = [
    "Aguascalientes", "Baja California", "Baja California Sur", "Campeche",
    "Chiapas", "Chihuahua", "Ciudad de México", "Coahuila", "Colima",
    "Durango", "Guanajuato", "Guerrero", "Hidalgo", "Jalisco", "México",
    "Michoacán", "Morelos", "Nayarit", "Nuevo León", "Oaxaca", "Puebla",
    "Querétaro", "Quintana Roo", "San Luis Potosí", "Sinaloa", "Sonora",
    "Tabasco", "Tamaulipas", "Tlaxcala", "Veracruz", "Yucatán", "Zacatecas",
]

CANDIDATOS = [
    ("PAN-PRI-PRD", "Candidatura A"),
    ("PVEM-PT-MORENA", "Candidatura B"),
    ("MC", "Candidatura C"),
]


# ---------------------------------------------------------------------------
# Site content
# ---------------------------------------------------------------------------

def make_index_html(corte):
    """About 2 KB of Angular-like index.html. corte is e.g. "22:15"."""
    head = f"""<!doctype html>
<html lang="es">
<head>
  <meta charset="utf-8">
  <title>PREP 2024 - Presidencia de la República</title>
  <base href="/">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="description" content="Programa de Resultados Electorales Preliminares 2024, corte {corte}">
  <meta http-equiv="X-UA-Compatible" content="IE=edge">
  <link rel="icon" type="image/x-icon" href="favicon.ico">
  <link rel="preconnect" href="/">
  <link rel="stylesheet" href="{CSS_NAME}" media="all">
</head>
<body>
  <!-- Programa de Resultados Electorales Preliminares, corte {corte} -->
  <noscript>
    <p>Para consultar los resultados preliminares es necesario habilitar
    JavaScript en su navegador. Si no es posible, puede descargar la base
    de datos en formato CSV desde la sección de descargas.</p>
  </noscript>
  <app-root>
    <div class="cargando" role="status" aria-live="polite">
      <span class="spinner"></span>
      <span>Cargando resultados, corte {corte}&hellip;</span>
    </div>
  </app-root>
"""
    tail = f"""  <script src="{JS_NAME}" type="module"></script>
</body>
</html>
"""
    # Pad with a comment block up to roughly 2 KB.
    pad_lines = []
    i = 0
    while len((head + "\n".join(pad_lines) + tail).encode()) < 2000:
        pad_lines.append(
            f"  <!-- aviso {i:02d}: los resultados son preliminares y no "
            f"tienen efectos jurídicos -->")
        i += 1
    return (head + "\n".join(pad_lines) + "\n" + tail).encode("utf-8")


def make_main_js():
    """About 20 KB of plausible, compressible minified-ish JS."""
    parts = ['"use strict";(self.webpackChunkprep2024=self.webpackChunkprep2024'
             '||[]).push([[179],{\n']
    n = 0
    while sum(len(p) for p in parts) < 20000:
        e = ESTADOS[n % len(ESTADOS)]
        parts.append(
            f'{1000 + n}:(t,e,n)=>{{n.d(e,{{a:()=>R{n}}});var i=n(5861),'
            f'o=n(4650);class R{n}{{constructor(t){{this.http=t,'
            f'this.estado={json.dumps(e, ensure_ascii=False)},this.id={n + 1},'
            f'this.url="assets/JSON/ESTADOS/"+encodeURIComponent(this.estado)'
            f'+".json"}}cargar(){{return this.http.get(this.url).pipe((0,i.U)'
            f'(t=>({{actas:t.actasCapturadas,esperadas:t.actasEsperadas,'
            f'participacion:t.participacion,votos:t.votos||[]}})))}}'
            f'static \u0275fac=function(t){{return new(t||R{n})(o.LFG(i.eN))}};'
            f'static \u0275prov=o.Yz7({{token:R{n},factory:R{n}.\u0275fac,'
            f'providedIn:"root"}})}}}},\n')
        n += 1
    parts.append('}]);\n//# sourceMappingURL=' + JS_NAME + '.map\n')
    return "".join(parts).encode("utf-8")


def make_css():
    return (
        ":root{--color-primario:#d5007f;--color-fondo:#f5f5f5;"
        "--fuente:'Roboto',sans-serif}\n"
        "html,body{margin:0;padding:0;background:var(--color-fondo);"
        "font-family:var(--fuente)}\n"
        ".cargando{display:flex;align-items:center;justify-content:center;"
        "height:100vh;color:var(--color-primario)}\n"
        ".spinner{width:2rem;height:2rem;border:3px solid currentColor;"
        "border-right-color:transparent;border-radius:50%;"
        "animation:girar .8s linear infinite;margin-right:.5rem}\n"
        "@keyframes girar{to{transform:rotate(360deg)}}\n"
    ).encode("utf-8")


def make_404():
    return (
        '<!doctype html>\n<html lang="es">\n<head><meta charset="utf-8">'
        "<title>404 - No encontrado</title></head>\n<body>\n"
        "<h1>No encontrado</h1>\n"
        "<p>La página solicitada no existe.</p>\n"
        '<p><a href="/">Volver al inicio</a></p>\n</body>\n</html>\n'
    ).encode("utf-8")


def make_national_json(hora, seed):
    rnd = random.Random(seed)
    estados = []
    for i, e in enumerate(ESTADOS, 1):
        esperadas = rnd.randint(2000, 20000)
        capturadas = rnd.randint(esperadas // 2, esperadas)
        votos = []
        for sigla, nombre in CANDIDATOS:
            votos.append({"partido": sigla, "candidatura": nombre,
                          "votos": rnd.randint(10000, 3000000),
                          "porcentaje": round(rnd.uniform(5, 60), 4)})
        estados.append({
            "id": i,
            "nombre": e,
            "actasEsperadas": esperadas,
            "actasCapturadas": capturadas,
            "actasContabilizadas": capturadas - rnd.randint(0, 50),
            "participacion": round(rnd.uniform(40, 75), 4),
            "listaNominal": rnd.randint(500000, 12000000),
            "votosNulos": rnd.randint(1000, 90000),
            "candidaturasNoRegistradas": rnd.randint(10, 9000),
            "votos": votos,
        })
    doc = {
        "eleccion": "PRESIDENCIA",
        "ambito": "NACIONAL",
        "ultimoCorte": {"fecha": "02/06/2024", "hora": hora},
        "zonaHoraria": "UTC-6",
        "estados": estados,
    }
    data = json.dumps(doc, ensure_ascii=False, indent=1)
    # Pad with a notes array if short of ~20 KB.
    notas = []
    k = 0
    while len(data.encode()) < 20000:
        notas.append(f"Nota {k}: la información es preliminar.")
        doc["notas"] = notas
        data = json.dumps(doc, ensure_ascii=False, indent=1)
        k += 1
    return (data + "\n").encode("utf-8")


def make_michoacan_json():
    doc = {"estado": "Michoacán", "id": 16,
           "ultimoCorte": {"fecha": "02/06/2024", "hora": "22:15"},
           "actasEsperadas": 6523, "actasCapturadas": 6011,
           "participacion": 57.1234}
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode()


def make_nuevo_leon_index():
    return (
        '<!doctype html>\n<html lang="es">\n<head><meta charset="utf-8">'
        '<base href="/"><title>Nuevo León - PREP 2024</title></head>\n'
        "<body><h1>Nuevo León</h1><app-root></app-root></body>\n</html>\n"
    ).encode("utf-8")


def zipinfo(name, compress_type=zipfile.ZIP_DEFLATED, mode=0o644):
    zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    zi.compress_type = compress_type
    zi.create_system = 3  # Unix
    zi.external_attr = (0o100000 | mode) << 16
    return zi


def make_nested_zip():
    csv = ["CLAVE_CASILLA,ESTADO,SECCION,TIPO,PAN_PRI_PRD,PVEM_PT_MORENA,MC,"
           "NULOS,TOTAL"]
    rnd = random.Random(2215)
    for i in range(40):
        a, b, c = (rnd.randint(0, 300) for _ in range(3))
        nul = rnd.randint(0, 15)
        csv.append(f"{i:06d}B,{(i % 32) + 1},{1000 + i},B,{a},{b},{c},{nul},"
                   f"{a + b + c + nul}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipinfo("20240602_2215_PREP_PRES.csv"),
                   ("\n".join(csv) + "\n").encode())
    return buf.getvalue()


def site_files(corte="22:15"):
    """Ordered list of (path, bytes) for the good site."""
    files = [
        ("index.html", make_index_html(corte)),
        (JS_NAME, make_main_js()),
        (CSS_NAME, make_css()),
        ("404.html", make_404()),
        (NAT_JSON, make_national_json(corte, seed=int(corte.replace(":", "")))),
        ("assets/JSON/ESTADOS/Michoacán.json", make_michoacan_json()),
        ("estados/Nuevo León/index.html", make_nuevo_leon_index()),
        ("datos/20240602_2215_PREP_PRES.zip", make_nested_zip()),
        ("tiny.txt", b"hola mundo"),  # 10 bytes
        ("data.bin", random.Random(3000).randbytes(3000)),
    ]
    assert len(files[-2][1]) == 10
    return files


# ---------------------------------------------------------------------------
# Archive writers
# ---------------------------------------------------------------------------

def tinfo(name, type_=tarfile.REGTYPE, size=0, mode=None, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = size
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.linkname = linkname
    if mode is None:
        mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    ti.mode = mode
    return ti


class Tar:
    """In-memory tar builder: entries are written exactly as given."""

    def __init__(self, encoding="utf-8", fmt=tarfile.GNU_FORMAT):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=fmt,
                               encoding=encoding, errors="strict")

    def file(self, name, data, mode=0o644):
        self.tf.addfile(tinfo(name, size=len(data), mode=mode),
                        io.BytesIO(data))

    def dir(self, name):
        self.tf.addfile(tinfo(name, tarfile.DIRTYPE))

    def special(self, name, type_, linkname="", major=0, minor=0):
        ti = tinfo(name, type_, linkname=linkname)
        ti.devmajor, ti.devminor = major, minor
        self.tf.addfile(ti)

    def tar_bytes(self):
        self.tf.close()
        return self.buf.getvalue()

    def tgz_bytes(self):
        return gzip.compress(self.tar_bytes(), compresslevel=9, mtime=MTIME)


def site_tar(prefix="./"):
    """The good site as a Tar, GNU-tar style: './', './dir/', './file'."""
    t = Tar()
    files = site_files()
    t.dir(prefix if prefix else ".")
    emitted = set()
    for path, data in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in emitted:
                emitted.add(d)
                t.dir(prefix + d)
        t.file(prefix + path, data)
    return t


def zip_bytes(entries):
    """entries: list of (name, data) or (ZipInfo, data)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate-name UserWarning
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED,
                             compresslevel=9) as z:
            for name, data in entries:
                if isinstance(name, zipfile.ZipInfo):
                    zi = name
                else:
                    ct = (zipfile.ZIP_STORED if name.endswith(".zip")
                          else zipfile.ZIP_DEFLATED)
                    zi = zipinfo(name, ct)
                z.writestr(zi, data, compresslevel=9)
    return buf.getvalue()


def patch_zip_headers(data, fn):
    """Call fn(data: bytearray, kind, offset) for every local ('L') and
    central ('C') header; return patched bytes.  Offsets come from the
    central directory, so it is exact even for odd names."""
    b = bytearray(data)
    eocd = b.rfind(b"PK\x05\x06")
    assert eocd >= 0
    (_, _, _, _, count, cd_size, cd_off, _) = struct.unpack(
        "<IHHHHIIH", b[eocd:eocd + 22])
    p = cd_off
    for _ in range(count):
        assert b[p:p + 4] == b"PK\x01\x02"
        n_len, x_len, c_len = struct.unpack("<HHH", b[p + 28:p + 34])
        (local_off,) = struct.unpack("<I", b[p + 42:p + 46])
        assert b[local_off:local_off + 4] == b"PK\x03\x04"
        fn(b, "L", local_off)
        fn(b, "C", p)
        p += 46 + n_len + x_len + c_len
    return bytes(b)


# Offsets inside headers (from the record signature)
LOCAL_FLAGS, LOCAL_CRC = 6, 14
CENTRAL_FLAGS, CENTRAL_CRC = 8, 16


def small_index():
    return make_index_html("22:15")


# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------

def build():
    """Return ordered list of (name, bytes, expected)."""
    out = []

    def add(name, data, expected):
        out.append((name, data, expected))

    # --- good ones --------------------------------------------------------
    good_tgz = site_tar().tgz_bytes()
    add("20240602_2215_PREP_PRES_NAL.tar.gz", good_tgz, "ok")
    add("20240602_2230_PREP_PRES_NAL.zip", zip_bytes(site_files()), "ok")
    add("20240602_2245_PREP_PRES_NAL.zip", zip_bytes(_cut_2245()), "ok")

    # --- hostile: entry types ----------------------------------------------
    idx = small_index()

    t = Tar(); t.file("index.html", idx)
    t.special("evil", tarfile.SYMTYPE, linkname="/etc/passwd")
    add("h-symlink.tar.gz", t.tgz_bytes(), "symbolic link")

    t = Tar(); t.file("index.html", idx)
    t.special("copy.html", tarfile.LNKTYPE, linkname="index.html")
    add("h-hardlink.tar.gz", t.tgz_bytes(), "hard link")

    t = Tar(); t.file("index.html", idx); t.dir("dev")
    t.special("dev/null", tarfile.CHRTYPE, major=1, minor=3)
    add("h-device.tar.gz", t.tgz_bytes(), "not a regular file or directory")

    t = Tar(); t.file("index.html", idx)
    t.special("pipe", tarfile.FIFOTYPE)
    add("h-fifo.tar.gz", t.tgz_bytes(), "not a regular file or directory")

    # --- hostile: names ---------------------------------------------------
    t = Tar(); t.file("index.html", idx); t.file("/etc/evil.html", b"evil\n")
    add("h-absolute.tar.gz", t.tgz_bytes(), "absolute path")

    t = Tar(); t.file("index.html", idx)
    t.file("assets/../../evil.html", b"evil\n")
    add("h-dotdot.tar.gz", t.tgz_bytes(), "'..' component")

    add("h-dotdot.zip", zip_bytes([("index.html", idx),
                                   ("../evil.html", b"evil\n")]),
        "'..' component")

    t = Tar(); t.file("index.html", idx); t.file("bad\x01name.html", b"x\n")
    add("h-control.tar.gz", t.tgz_bytes(), "control character")

    # libarchive's zip reader rewrites '\\' to '/' when a name has no '/'
    # (it treats such entries as written by a DOS/Windows archiver), so a
    # name like "assets\\..\\evil.html" would reach the server as
    # "assets/../evil.html".  Keep one '/' so the backslash survives, and no
    # '..' so that "backslash" is the only possible reason.
    add("h-backslash.zip", zip_bytes([("index.html", idx),
                                      ("assets/JSON\\evil.html", b"evil\n")]),
        "backslash")

    # GNU format + latin-1 encoding: the name is written as raw bytes
    # b"caf\xe9.html" with no PAX header, which is invalid UTF-8.
    t = Tar(encoding="latin-1")
    t.file("index.html", idx); t.file("caf\xe9.html", b"cafe\n")
    add("h-notutf8.tar.gz", t.tgz_bytes(), "not valid UTF-8")

    add("h-duplicate.zip", zip_bytes([("index.html", idx),
                                      ("index.html", b"<p>otro</p>\n")]),
        "duplicate name")

    t = Tar(); t.file("index.html", idx); t.file("./index.html", b"otro\n")
    add("h-duplicate.tar.gz", t.tgz_bytes(), "duplicate name")

    # --- hostile: limits --------------------------------------------------
    t = Tar(); t.file("index.html", idx)
    for i in range(2000):  # 2001 entries in total, all regular files
        t.file(f"n/{i:04d}.txt", f"{i}\n".encode())
    add("h-toomany.tar.gz", t.tgz_bytes(), "too many entries")

    # Few files, but each under its own deep folder chain: the folders they
    # imply (200 x 12) must count against the entry cap too.
    t = Tar(); t.file("index.html", idx)
    for i in range(200):
        deep = "/".join(f"d{i:03d}" if k == 0 else "x" for k in range(12))
        t.file(f"{deep}/f.json", b"{}\n")
    add("h-deepdirs.tar.gz", t.tgz_bytes(), "counting implied folders")

    t = Tar(); t.file("index.html", idx)
    t.file("big.bin", bytes(3 * 1024 * 1024))
    add("h-bigfile.tar.gz", t.tgz_bytes(), "max_file_bytes")

    t = Tar(); t.file("index.html", idx)
    for i in range(4):
        t.file(f"part{i}.bin", bytes(3 * 512 * 1024))  # 1.5 MiB
    add("h-total.tar.gz", t.tgz_bytes(), "max_total_bytes")

    # 300-byte path made of components well under 255 bytes each.
    comp = "d" * 49  # 5 x ("d"*49 + "/") = 250 bytes
    longpath = (comp + "/") * 5
    longpath += "f" * (300 - len(longpath) - len(".html")) + ".html"
    assert len(longpath.encode()) == 300
    t = Tar(); t.file("index.html", idx); t.file(longpath, b"largo\n")
    add("h-longpath.tar.gz", t.tgz_bytes(), "max_path_bytes")

    # --- hostile: integrity -----------------------------------------------
    def bad_crc(b, kind, off):
        o = off + (LOCAL_CRC if kind == "L" else CENTRAL_CRC)
        (crc,) = struct.unpack("<I", b[o:o + 4])
        assert crc == zlib.crc32(idx)
        b[o:o + 4] = struct.pack("<I", crc ^ 0xDEADBEEF)
    add("h-badcrc.zip",
        patch_zip_headers(zip_bytes([(zipinfo("index.html",
                                              zipfile.ZIP_STORED), idx)]),
                          bad_crc),
        "CRC")

    # Refused while it is hashed, by prepd's own gzip check, before
    # libarchive sees it.
    add("h-truncated.tar.gz", good_tgz[:len(good_tgz) * 6 // 10],
        "gzip stream is truncated")

    add("h-plain.tar", site_tar().tar_bytes(), "not a .tar.gz or .zip")

    rnd = random.Random(4096)
    garbage = bytearray(rnd.randbytes(4096))
    garbage[0:2] = b"\x00\x00"  # never looks like gzip (1f 8b) or PK
    add("h-garbage.zip", bytes(garbage), "not a .tar.gz or .zip")

    def encrypt_flag(b, kind, off):
        o = off + (LOCAL_FLAGS if kind == "L" else CENTRAL_FLAGS)
        (fl,) = struct.unpack("<H", b[o:o + 2])
        b[o:o + 2] = struct.pack("<H", fl | 0x0001)
    add("h-encrypted.zip",
        patch_zip_headers(zip_bytes([(zipinfo("index.html",
                                              zipfile.ZIP_STORED), idx)]),
                          encrypt_flag),
        "encrypted")

    add("h-empty.zip", zip_bytes([]), "no files")
    return out


def _cut_2245():
    """Site for the 22:45 cut: only index.html and the national JSON
    differ from the 22:15/22:30 content."""
    base = site_files("22:15")
    new = dict(site_files("22:45"))
    out = []
    for p, d in base:
        if p in ("index.html", NAT_JSON):
            out.append((p, new[p]))
        else:
            out.append((p, d))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    for name, data, expected in build():
        with open(os.path.join(args.outdir, name), "wb") as f:
            f.write(data)
        print(f"{name}\t{expected}")
    # The good site's files as plain files, for byte-for-byte comparisons
    # of what the server sends (R2).
    for path, data in site_files():
        dest = os.path.join(args.outdir, "site", path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
