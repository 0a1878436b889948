#!/usr/bin/env python3
"""A site built like an Angular app, packaged per cut, for the edge tests.

    edgesite.py OUT_DIR CUT [CUT ...]

For each CUT (0..599) writes OUT_DIR/20240602_HHMM_EDGE.tar.gz (HHMM is
20:00 plus CUT minutes, so the cut label is 20240602_HHMM) and its
.sha256 sidecar, each through a dot-temp name and a rename, and prints
one line per cut: "CUT LABEL PATH MAIN CHUNK LAZY".

The package (a full site, fingerprinted as Angular's build names files):
  index.html            <base href="/">, styles.<h>.css, main.<h>.js
  main.<h>.js           an ES module: fetches assets/data.json, imports
                        chunk-<h>.js and lets it render; window.edgeLazy()
                        imports lazy-<h>.js later, as a route change does
  chunk-<h>.js          renders #corte from the JSON (data-cut) and the
                        bundle's own cut (data-bundle)
  lazy-<h>.js           marks #lazy when it was loaded
  styles.<h>.css
  assets/data.json      {"cut": LABEL, ...}
  favicon.ico           the same at every cut
Every bundle file embeds the cut, so every hash changes at every cut;
<h> is the first 16 hex digits of the file's SHA-256, as Angular's
outputHashing does. Deterministic: the same cut gives the same bytes.
Python 3 standard library only.
"""
import hashlib
import io
import json
import os
import struct
import sys
import tarfile


# A 1x1 icon (ICONDIR, one ICONDIRENTRY, a 32-bit BITMAPINFOHEADER, one
# pixel, the AND mask row): browsers ask for /favicon.ico by themselves, and
# an Angular build ships one, so the edge must not answer it 404.
FAVICON = (struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 1, 1, 0, 0, 1, 32, 48, 22)
           + struct.pack("<IiiHHIIiiII", 40, 1, 2, 1, 32, 0, 8, 0, 0, 0, 0)
           + bytes([0x30, 0x60, 0x90, 0xff]) + bytes(4))


def fingerprint(stem, ext, body):
    h = hashlib.sha256(body).hexdigest()[:16]
    return f"{stem}.{h}.{ext}" if stem != "chunk" and stem != "lazy" else f"{stem}-{h}.{ext}"


def site(cut):
    hh, mm = divmod(20 * 60 + cut, 60)
    label = f"20240602_{hh:02d}{mm:02d}"
    lazy_body = (f"// lazy route of cut {label}\n"
                 f"export function mark() {{\n"
                 f"  const e = document.getElementById('lazy');\n"
                 f"  e.dataset.cut = '{label}';\n"
                 f"  e.textContent = 'Vista cargada (corte {label})';\n"
                 f"  return '{label}';\n}}\n").encode()
    lazy = fingerprint("lazy", "js", lazy_body)
    chunk_body = (f"// results view of cut {label}\n"
                  f"export function render(data, bundle) {{\n"
                  f"  const app = document.getElementById('app');\n"
                  f"  const h = document.createElement('h1');\n"
                  f"  h.id = 'corte';\n"
                  f"  h.dataset.cut = data.cut;\n"
                  f"  h.dataset.bundle = bundle;\n"
                  f"  h.textContent = 'Corte ' + data.cut + ': ' + data.votos + ' votos';\n"
                  f"  app.replaceChildren(h);\n"
                  f"  const l = document.createElement('p');\n"
                  f"  l.id = 'lazy';\n"
                  f"  app.append(l);\n"
                  f"  document.body.dataset.rendered = data.cut;\n}}\n").encode()
    chunk = fingerprint("chunk", "js", chunk_body)
    main_body = (f"// application bundle of cut {label}\n"
                 f"const BUNDLE = '{label}';\n"
                 f"window.edgeLazy = () => import('./{lazy}').then((m) => m.mark());\n"
                 f"fetch('assets/data.json')\n"
                 f"  .then((r) => {{ if (!r.ok) throw new Error('data.json: HTTP ' + r.status); return r.json(); }})\n"
                 f"  .then((data) => import('./{chunk}').then((m) => m.render(data, BUNDLE)))\n"
                 f"  .catch((e) => {{ document.body.dataset.failed = String(e); }});\n").encode()
    main = fingerprint("main", "js", main_body)
    css_body = f"/* cut {label} */\nbody {{ font-family: sans-serif; background: #eee; }}\n".encode()
    css = fingerprint("styles", "css", css_body)
    index = (f"<!doctype html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<title>PREP edge test</title>\n<base href=\"/\">\n"
             f"<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n"
             f"<div id=\"app\"></div>\n<script src=\"{main}\" type=\"module\"></script>\n"
             f"</body>\n</html>\n").encode()
    data = json.dumps({"cut": label, "votos": 1000 + 37 * cut,
                       "nota": "SIMULACRO: datos ficticios"}).encode()
    files = {"index.html": index, main: main_body, chunk: chunk_body, lazy: lazy_body,
             css: css_body, "assets/data.json": data, "favicon.ico": FAVICON}
    return label, files, main, chunk, lazy


def write(out, cut):
    label, files, main, chunk, lazy = site(cut)
    hh, mm = label[9:11], label[11:13]
    when = 1717380000 + cut * 60   # fixed times: the same cut, the same bytes
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            ti = tarfile.TarInfo(name)
            ti.size = len(files[name])
            ti.mtime = when
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(files[name]))
    name = f"20240602_{hh}{mm}_EDGE.tar.gz"
    path = os.path.join(out, name)
    body = buf.getvalue()
    for p, b in ((path, body),
                 (path + ".sha256", f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode())):
        tmp = os.path.join(out, "." + os.path.basename(p))
        with open(tmp, "wb") as f:
            f.write(b)
        os.rename(tmp, p)
    print(cut, label, path, main, chunk, lazy)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: edgesite.py OUT_DIR CUT [CUT ...]")
    os.makedirs(sys.argv[1], exist_ok=True)
    for c in sys.argv[2:]:
        if not c.isdigit() or int(c) >= 600:
            sys.exit(f"edgesite.py: '{c}' is not a cut number from 0 to 599")
        write(sys.argv[1], int(c))


if __name__ == "__main__":
    main()
