#!/usr/bin/env python3
"""Make the deterministic synthetic site that bench/run serves.

Usage: bench/mksite.py OUTDIR

Writes:
  OUTDIR/site/                    the site (what prepd serves)
      index.html                  ~2 KB, with <base href="/">
      assets/json/nacional.json   ~20 KB election-results JSON
      main.0123456789abcdef.js    ~300 KB minified-looking JS
  OUTDIR/site.tar.gz              the same files, the package for prepd
  OUTDIR/nginx-root/              a copy of site/ plus .gz siblings (gzip -9)
                                  of the JSON and the JS, for gzip_static

Everything is deterministic: same bytes on every run and every machine
(fixed seed, fixed mtimes, gzip headers without names or times).
Only the Python standard library is used.
"""

import gzip
import io
import json
import os
import random
import re
import shutil
import sys
import tarfile

SEED = 20240602
MTIME = 1717369200  # 2024-06-02 20:00 -06:00, a fixed date for every file

JS_NAME = "main.0123456789abcdef.js"
JSON_PATH = "assets/json/nacional.json"
FILES = ["index.html", JSON_PATH, JS_NAME]  # order in the package


# ---------------------------------------------------------------- index.html

def make_index():
    head = f"""<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<title>PREP 2024 - Programa de Resultados Electorales Preliminares</title>
<base href="/">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="Resultados preliminares de la elección federal 2024: Presidencia, Senadurías y Diputaciones.">
<meta name="theme-color" content="#d5007f">
<link rel="icon" type="image/svg+xml" href="favicon.svg">
<style>
html,body{{margin:0;padding:0;font-family:Roboto,Helvetica,Arial,sans-serif;background:#f4f4f4;color:#333}}
.splash{{display:flex;flex-direction:column;align-items:center;justify-content:center;min-height:100vh}}
.splash h1{{font-size:1.4rem;font-weight:500;color:#d5007f;margin:0 0 .5rem}}
.splash p{{font-size:.95rem;margin:0}}
.spinner{{width:48px;height:48px;border:5px solid #ddd;border-top-color:#d5007f;border-radius:50%;animation:s 1s linear infinite;margin-bottom:1rem}}
@keyframes s{{to{{transform:rotate(360deg)}}}}
</style>
</head>
<body>
<app-root>
<div class="splash">
<div class="spinner"></div>
<h1>Programa de Resultados Electorales Preliminares 2024</h1>
<p>Cargando resultados&hellip;</p>
</div>
</app-root>
<noscript>Para consultar los resultados es necesario habilitar JavaScript en su navegador.</noscript>
<script src="runtime.js" type="module"></script>
<script src="{JS_NAME}" type="module"></script>
</body>
</html>
"""
    # pad to ~2 KB with a plausible comment block (deterministic)
    pad = ("<!-- Elección Federal 2024. Los resultados preliminares no tienen "
           "efectos jurídicos; el cómputo distrital es el que da validez. -->\n")
    out = head
    while len(out.encode()) < 1900:
        out = out.replace("</body>", pad + "</body>", 1)
    return out.encode("utf-8")


# ---------------------------------------------------------- nacional.json

PARTIES = [
    ("PAN", "Partido Acción Nacional"),
    ("PRI", "Partido Revolucionario Institucional"),
    ("PRD", "Partido de la Revolución Democrática"),
    ("PVEM", "Partido Verde Ecologista de México"),
    ("PT", "Partido del Trabajo"),
    ("MC", "Movimiento Ciudadano"),
    ("MORENA", "Morena"),
]
STATES = [
    "AGUASCALIENTES", "BAJA CALIFORNIA", "BAJA CALIFORNIA SUR", "CAMPECHE",
    "COAHUILA", "COLIMA", "CHIAPAS", "CHIHUAHUA", "CIUDAD DE MÉXICO",
    "DURANGO", "GUANAJUATO", "GUERRERO", "HIDALGO", "JALISCO", "MÉXICO",
    "MICHOACÁN", "MORELOS", "NAYARIT", "NUEVO LEÓN", "OAXACA", "PUEBLA",
    "QUERÉTARO", "QUINTANA ROO", "SAN LUIS POTOSÍ", "SINALOA", "SONORA",
    "TABASCO", "TAMAULIPAS", "TLAXCALA", "VERACRUZ", "YUCATÁN", "ZACATECAS",
]


def make_json(rng):
    def votes_block(scale):
        votos = {p: rng.randint(scale // 40, scale // 3) for p, _ in PARTIES}
        nr = rng.randint(scale // 2000, scale // 500)
        nulos = rng.randint(scale // 100, scale // 40)
        total = sum(votos.values()) + nr + nulos
        return votos, nr, nulos, total

    def pct(x, total):
        return f"{100.0 * x / total:.4f}"

    def entidad(i, name):
        scale = rng.randint(300_000, 7_000_000)
        votos, nr, nulos, total = votes_block(scale)
        actas_esp = rng.randint(1500, 21000)
        actas_cap = rng.randint(int(actas_esp * 0.85), actas_esp)
        lista = int(total / rng.uniform(0.52, 0.68))
        return {
            "id": i + 1,
            "nombre": name,
            "actasEsperadas": actas_esp,
            "actasCapturadas": actas_cap,
            "actasContabilizadas": actas_cap - rng.randint(0, 80),
            "porcentajeActasContabilizadas": pct(actas_cap, actas_esp),
            "listaNominal": lista,
            "participacionCiudadana": pct(total, lista),
            "votos": [
                {"partido": p, "votos": v, "porcentaje": pct(v, total)}
                for p, v in votos.items()
            ],
            "candidaturasNoRegistradas": nr,
            "votosNulos": nulos,
            "total": total,
        }

    entidades = [entidad(i, n) for i, n in enumerate(STATES)]
    tot = {p: sum(next(x["votos"] for x in e["votos"] if x["partido"] == p)
                  for e in entidades) for p, _ in PARTIES}
    total = sum(e["total"] for e in entidades)
    doc = {
        "eleccion": "PRESIDENCIA DE LA REPÚBLICA",
        "ambito": "NACIONAL",
        "ultimoCorte": {"fecha": "02/06/2024", "hora": "23:45", "zona": "UTC-6"},
        "horaCorte": "2024-06-02T23:45:00-06:00",
        "corte": 47,
        "partidos": [{"siglas": s, "nombre": n, "emblema": f"assets/img/{s.lower()}.svg"}
                     for s, n in PARTIES],
        "resumen": {
            "actasEsperadas": sum(e["actasEsperadas"] for e in entidades),
            "actasCapturadas": sum(e["actasCapturadas"] for e in entidades),
            "actasContabilizadas": sum(e["actasContabilizadas"] for e in entidades),
            "listaNominal": sum(e["listaNominal"] for e in entidades),
            "total": total,
            "votos": [{"partido": p, "votos": v, "porcentaje": pct(v, total)}
                      for p, v in tot.items()],
        },
        "entidades": entidades,
    }
    # compact, like the real PREP trees; ~20 KB
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return (data + "\n").encode("utf-8")


# ------------------------------------------------------------ main.*.js

WORDS = [
    "value", "state", "props", "config", "results", "entidad", "distrito",
    "seccion", "casilla", "actas", "votos", "partido", "corte", "total",
    "porcentaje", "nombre", "items", "data", "index", "length", "source",
    "target", "options", "handler", "subscribe", "pipe", "map", "filter",
    "next", "complete", "error", "render", "update", "change", "view",
    "element", "node", "parent", "child", "context", "template", "style",
    "class", "attr", "event", "listener", "router", "route", "params",
    "query", "http", "request", "response", "headers", "status", "cache",
    "timer", "delay", "format", "locale", "number", "decimal", "chart",
    "axis", "scale", "color", "width", "height", "label", "title", "table",
    "column", "row", "sort", "page", "size", "visible", "selected",
]
PROPS = [
    "ngOnInit", "ngOnDestroy", "ngOnChanges", "detectChanges", "markForCheck",
    "subscribe", "unsubscribe", "pipe", "map", "forEach", "push", "slice",
    "splice", "indexOf", "join", "split", "replace", "toFixed", "toString",
    "getElementById", "querySelector", "addEventListener", "setAttribute",
    "appendChild", "removeChild", "createElement", "prototype", "call",
    "apply", "bind", "keys", "assign", "defineProperty", "hasOwnProperty",
    "then", "catch", "resolve", "reject", "get", "set", "has", "delete",
    "emit", "next", "complete", "value", "length", "nativeElement",
]
STRINGS = [
    "ENTIDAD", "DISTRITO", "SECCION", "CASILLA", "PRESIDENCIA", "SENADURIAS",
    "DIPUTACIONES", "assets/json/", ".json", "actasContabilizadas",
    "participacionCiudadana", "listaNominal", "horaCorte", "ultimoCorte",
    "es-MX", "0.0-4", "1.0-0", "click", "resize", "scroll", "keydown",
    "app-root", "mat-table", "tooltip", "aria-label", "role", "button",
    "disabled", "hidden", "active", "selected", "Cargando", "Sin datos",
    "Total de votos", "Votos nulos", "Candidaturas no registradas",
    "Actas esperadas", "Actas capturadas", "Participación ciudadana",
]


POOL_SIZE = 200   # statements in the idiom pool
REUSE = 0.8        # share of statements drawn from it (sets the gzip ratio)
RESERVED = {"class", "delete", "new", "default", "function", "return", "var"}
SHORT = list("etnrioasuclfdhpmgvyb") + ["_", "$", "Ne", "Te", "Ae", "Re", "Oe", "Pe"]


class JsGen:
    def __init__(self, rng, pool_size=POOL_SIZE, reuse=REUSE):
        self.r = rng
        self.n = 0
        self.reuse = 0.0
        # A bundle repeats its idioms (helpers, decorators, change detection,
        # subscriptions) with small changes: keep a pool of statements and
        # draw most statements from it, renaming one short identifier.
        self.pool = [self.stmt() for _ in range(pool_size)]
        self.reuse = reuse

    def pstmt(self):
        r = self.r
        if r.random() < self.reuse:
            s = r.choice(self.pool)
            a, b = r.choice(SHORT[:8]), r.choice(SHORT[:8])
            # rename one short identifier where it is a whole name
            return re.sub(rf"(?<![\w$]){re.escape(a)}(?=\.)", b, s, count=1)
        return self.stmt()

    def ident(self):
        r = self.r
        k = r.random()
        if k < 0.55:  # minifier-style short names, the first ones far commoner
            i = min(int(r.expovariate(1 / 6.0)), len(SHORT) - 1)
            return SHORT[i]
        if k < 0.85:
            w = r.choice(WORDS)
            return w if w not in RESERVED else w + "_"
        return r.choice(WORDS) + r.choice(WORDS).capitalize()

    def lit(self):
        r = self.r
        k = r.random()
        if k < 0.35:
            return (r.choice(["0", "1", "2", "-1", "10", "100", "1e3", "16", "24", "60"])
                    if r.random() < 0.85 else str(r.randint(0, 9999)))
        if k < 0.7:
            return '"' + r.choice(STRINGS) + '"'
        if k < 0.8:
            return r.choice(["!0", "!1", "null", "void 0", "this"])
        return self.ident()

    def expr(self, d=0):
        r = self.r
        k = r.random()
        if d > 2 or k < 0.3:
            return self.lit()
        if k < 0.5:
            return f"{self.ident()}.{r.choice(PROPS)}({self.args(d)})"
        if k < 0.62:
            a, op, b = self.expr(d+1), r.choice(['+', '-', '*', '/', '===', '!==', '&&', '||', '<', '>=']), self.expr(d+1)
            if b[0] in "+-":  # 1- -1, not 1--1
                op += " "
            return f"{a}{op}{b}"
        if k < 0.72:
            return f"{self.expr(d+1)}?{self.expr(d+1)}:{self.expr(d+1)}"
        if k < 0.82:
            return f"{self.ident()}[{self.expr(d+1)}]"
        if k < 0.9:
            return "{" + ",".join(f"{r.choice(WORDS)}:{self.expr(d+1)}"
                                  for _ in range(r.randint(1, 4))) + "}"
        return f"function({self.params()}){{return {self.expr(d+1)}}}"

    def args(self, d):
        return ",".join(self.expr(d + 1) for _ in range(self.r.randint(0, 3)))

    def params(self):
        names = []
        for _ in range(self.r.randint(0, 3)):
            i = self.ident()
            if i not in names:  # duplicate parameters are a syntax error
                names.append(i)
        return ",".join(names)

    def stmt(self, d=0):
        r = self.r
        k = r.random()
        if d > 2 or k < 0.35:
            return f"{self.ident()}.{r.choice(WORDS)}={self.expr()}"
        if k < 0.55:
            return f"var {self.ident()}={self.expr()}"
        if k < 0.7:
            return f"if({self.expr()}){{{self.block(d+1)}}}" + (
                f"else{{{self.block(d+1)}}}" if r.random() < 0.4 else "")
        if k < 0.8:
            i = self.ident()
            return f"for(var {i}=0;{i}<{self.ident()}.length;{i}++){{{self.block(d+1)}}}"
        if k < 0.9:
            return f"return {self.expr()}"
        return f"{self.ident()}.{r.choice(PROPS)}({self.args(0)})"

    def block(self, d):
        if d == 0:
            return ";".join(self.pstmt() for _ in range(self.r.randint(1, 4)))
        return ";".join(self.stmt(d) for _ in range(self.r.randint(1, 4)))

    def module(self):
        """One webpack-style module entry."""
        r = self.r
        self.n += 1
        mid = 1000 + self.n * 7 + r.randint(0, 6)
        cls = r.choice(WORDS).capitalize() + r.choice(["Component", "Service", "Pipe", "Module", "Directive"])
        body = ";".join(self.pstmt() for _ in range(r.randint(3, 9)))
        methods = ",".join(
            f'{{key:"{r.choice(PROPS + WORDS)}",value:function({self.params()}){{{self.block(0)}}}}}'
            for _ in range(r.randint(1, 4)))
        return (f"{mid}:function(e,t,n){{\"use strict\";n.d(t,{{{r.choice('abcdefghijk')}:function(){{return {cls}}}}});"
                f"var {cls}=function(){{function {cls}({self.params()}){{{body}}}"
                f"return o({cls},[{methods}]),{cls}}}()}},")


def make_js(rng, target=300 * 1024):
    g = JsGen(rng)
    parts = ['"use strict";(self.webpackChunkprep=self.webpackChunkprep||[]).push([[179],{']
    size = len(parts[0])
    while size < target - 64:
        m = g.module()
        parts.append(m)
        size += len(m)
    parts.append('},function(e){var t=function(t){return e(e.s=t)};e.O(0,[736],function(){return t(4431)}),e.O()}]);\n')
    return "".join(parts).encode("utf-8")


# ------------------------------------------------------------ writing

def gzip9(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (MTIME, MTIME))


def make_tar(path, files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs_done = set()
        for name, data in files:
            # directory entries first, like `tar czf` would make
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in dirs_done:
                    continue
                dirs_done.add(d)
                ti = tarfile.TarInfo(d)
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                ti.mtime = MTIME
                ti.uname = ti.gname = "root"
                tar.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = MTIME
            ti.uname = ti.gname = "root"
            tar.addfile(ti, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip9(raw.getvalue()))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    out = argv[1]
    rng = random.Random(SEED)
    contents = {
        "index.html": make_index(),
        JSON_PATH: make_json(random.Random(SEED + 1)),
        JS_NAME: make_js(random.Random(SEED + 2)),
    }
    del rng

    site = os.path.join(out, "site")
    nroot = os.path.join(out, "nginx-root")
    for d in (site, nroot):
        if os.path.exists(d):
            shutil.rmtree(d)
    for name in FILES:
        write(os.path.join(site, name), contents[name])
        write(os.path.join(nroot, name), contents[name])
    for name in (JSON_PATH, JS_NAME):
        write(os.path.join(nroot, name + ".gz"), gzip9(contents[name]))
    make_tar(os.path.join(out, "site.tar.gz"), [(n, contents[n]) for n in FILES])

    for name in FILES:
        raw = len(contents[name])
        gz = len(gzip9(contents[name]))
        print(f"{name}\t{raw} bytes\tgzip -9 {gz} bytes\t(x{raw / gz:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
