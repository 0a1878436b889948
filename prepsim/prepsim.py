#!/usr/bin/env python3
"""prepsim: the electoral institute's side of the wire, simulated.

It makes PREP packages that look like the real ones (an Angular-like
single-page site, a JSON tree, the CSV database zipped inside) for any cut
of a simulated election night, and it runs a night: a new cut every period
into a spool folder, or served over HTTPS the way an institute does, with
the faults a real night brings. Python 3.11, standard library only; it calls
`openssl` only to sign. See README.md beside this file.

    prepsim.py make OUT_DIR [--profile 2024|2018|fixed] [--size small|10MB|100MB|BYTES]
                            [--cut N] [--kind full|incremental] [--seed S]
                            [--sign none|sha256|ed25519|cms --key K [--cert C]]
    prepsim.py run --spool DIR [--every 15s] [--cuts N] [--faults late,truncated,badhash] ...
    prepsim.py run --serve 127.0.0.1:PORT --cert C --key K [--every 15s] [--cuts N]
                   [--faults late,truncated,badhash,5xx,stall] ...

Everything is deterministic for a given seed, profile, size, cut and kind.
The data are fictitious.
"""
import argparse
import bisect
import csv
import datetime as dt
import email.utils
import gzip
import hashlib
import http.server
import io
import ipaddress
import itertools
import json
import math
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
SITE_DIR = os.path.join(HERE, "site")

# --------------------------------------------------------------------------
# Geography: the 32 states and their federal districts (300 in all).
# (id, name as written in the CSV, name as shown, districts)
STATES = [
    ("01", "AGUASCALIENTES", "Aguascalientes", 3),
    ("02", "BAJA CALIFORNIA", "Baja California", 9),
    ("03", "BAJA CALIFORNIA SUR", "Baja California Sur", 2),
    ("04", "CAMPECHE", "Campeche", 2),
    ("05", "COAHUILA", "Coahuila", 8),
    ("06", "COLIMA", "Colima", 2),
    ("07", "CHIAPAS", "Chiapas", 13),
    ("08", "CHIHUAHUA", "Chihuahua", 9),
    ("09", "CIUDAD DE MÉXICO", "Ciudad de México", 22),
    ("10", "DURANGO", "Durango", 4),
    ("11", "GUANAJUATO", "Guanajuato", 15),
    ("12", "GUERRERO", "Guerrero", 8),
    ("13", "HIDALGO", "Hidalgo", 7),
    ("14", "JALISCO", "Jalisco", 20),
    ("15", "MÉXICO", "México", 40),
    ("16", "MICHOACÁN", "Michoacán", 11),
    ("17", "MORELOS", "Morelos", 5),
    ("18", "NAYARIT", "Nayarit", 3),
    ("19", "NUEVO LEÓN", "Nuevo León", 14),
    ("20", "OAXACA", "Oaxaca", 10),
    ("21", "PUEBLA", "Puebla", 16),
    ("22", "QUERÉTARO", "Querétaro", 6),
    ("23", "QUINTANA ROO", "Quintana Roo", 4),
    ("24", "SAN LUIS POTOSÍ", "San Luis Potosí", 7),
    ("25", "SINALOA", "Sinaloa", 7),
    ("26", "SONORA", "Sonora", 7),
    ("27", "TABASCO", "Tabasco", 6),
    ("28", "TAMAULIPAS", "Tamaulipas", 8),
    ("29", "TLAXCALA", "Tlaxcala", 3),
    ("30", "VERACRUZ", "Veracruz", 19),
    ("31", "YUCATÁN", "Yucatán", 6),
    ("32", "ZACATECAS", "Zacatecas", 4),
]

# (id, siglas, nombre, color, national share before noise, kind)
PARTIES_2024 = [
    ("PAN", "PAN", "Partido Acción Nacional", "#0b5fa5", 0.172, "partido"),
    ("PRI", "PRI", "Partido Revolucionario Institucional", "#00843d", 0.098, "partido"),
    ("PRD", "PRD", "Partido de la Revolución Democrática", "#e0a800", 0.026, "partido"),
    ("PVEM", "PVEM", "Partido Verde Ecologista de México", "#4c9a2a", 0.084, "partido"),
    ("PT", "PT", "Partido del Trabajo", "#c8102e", 0.059, "partido"),
    ("MC", "MC", "Movimiento Ciudadano", "#e86100", 0.104, "partido"),
    ("MORENA", "MORENA", "Morena", "#8a1538", 0.428, "partido"),
    ("NO_REGISTRADAS", "NR", "Candidaturas no registradas", "#6b6b6b", 0.0012, "otro"),
    ("NULOS", "NULOS", "Votos nulos", "#3d3d3d", 0.024, "otro"),
]
PARTIES_2018 = [
    ("PAN", "PAN", "Partido Acción Nacional", "#0b5fa5", 0.181, "partido"),
    ("PRI", "PRI", "Partido Revolucionario Institucional", "#00843d", 0.164, "partido"),
    ("PRD", "PRD", "Partido de la Revolución Democrática", "#e0a800", 0.052, "partido"),
    ("PVEM", "PVEM", "Partido Verde Ecologista de México", "#4c9a2a", 0.019, "partido"),
    ("PT", "PT", "Partido del Trabajo", "#c8102e", 0.061, "partido"),
    ("MC", "MC", "Movimiento Ciudadano", "#e86100", 0.046, "partido"),
    ("NA", "NA", "Nueva Alianza", "#00a3ad", 0.024, "partido"),
    ("MORENA", "MORENA", "Morena", "#8a1538", 0.372, "partido"),
    ("PES", "PES", "Encuentro Social", "#5b2d8e", 0.027, "partido"),
    ("NO_REGISTRADAS", "NR", "Candidaturas no registradas", "#6b6b6b", 0.0006, "otro"),
    ("NULOS", "NULOS", "Votos nulos", "#3d3d3d", 0.021, "otro"),
]


class Profile:
    def __init__(self, name, year, start, utc, ext, encoding, sep, eol, parties,
                 ln_total, turnout, proceso, elec="PRES", ent="NAL", fixed_name=None):
        self.name = name
        self.year = year
        self.start = start          # local time of cut 0 (polls closed, PREP opens)
        self.utc = utc              # "UTC-6"
        self.iso_offset = "%s%02d:00" % (utc[3], int(utc[4:]))
        self.ext = ext
        self.encoding = encoding
        self.sep = sep
        self.eol = eol
        self.parties = parties
        self.ln_total = ln_total
        self.turnout = turnout
        self.proceso = proceso
        self.elec = elec
        self.ent = ent
        self.fixed_name = fixed_name

    @property
    def fixed_url_name(self):
        return self.fixed_name or "PREP_%s_%s%s" % (self.elec, self.ent, self.ext)


PROFILES = {
    "2024": Profile("2024", 2024, dt.datetime(2024, 6, 2, 20, 0), "UTC-6", ".zip", "utf-8",
                    ",", "\n", PARTIES_2024, 98_300_000, 0.61,
                    "Proceso Electoral Federal 2023-2024"),
    "2018": Profile("2018", 2018, dt.datetime(2018, 7, 1, 20, 0), "UTC-5", ".tar.gz",
                    "latin-1", "|", "\r\n", PARTIES_2018, 89_100_000, 0.63,
                    "Proceso Electoral Federal 2017-2018"),
    # Jalisco's institute overwrites one fixed name at every cut; the content
    # is the 2024 night (same seed, same numbers), only the name differs.
    "fixed": Profile("fixed", 2024, dt.datetime(2024, 6, 2, 20, 0), "UTC-6", ".zip", "utf-8",
                     ",", "\n", PARTIES_2024, 98_300_000, 0.61,
                     "Proceso Electoral Federal 2023-2024",
                     elec="AYUN", ent="JAL", fixed_name="PREP_AYUN_JAL.zip"),
}

ELECCION = "Presidencia de la República"
DB_ELEC = "PRES"     # the data are the presidential election's in every profile


class Fail(Exception):
    """A usage or environment error: printed as `prepsim: ...`, exit 2."""


def note(msg):
    print("prepsim: " + msg, file=sys.stderr, flush=True)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def unit_random(*parts):
    """A deterministic number in [0, 1) from its parts."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def apportion(total, weights):
    """Split the integer total in proportion to weights (largest remainder)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(weights)), key=lambda k: (out[k] - raw[k], k))
    for k in order[:rest]:
        out[k] += 1
    return out


# --------------------------------------------------------------------------
# The night's model.
#
# Every district has C casillas (polling stations), a lista nominal LN and,
# for each party p, the votes M[p] it would have with every acta counted.
# Actas arrive in a fixed order: the fraction counted by hour t after 20:00
# is F(t) = cap * (1 - exp(-(t/tau)^k)), so A(t) = floor(C * F(t)) actas are
# counted at the cut at hour t; A never decreases. The first a actas in
# arrival order hold G_p(a) = M[p] * W_p(a) // W_p(C) votes, where W_p is a
# prefix sum of per-casilla pseudo-random weights, so the votes of one
# casilla are G_p(i+1) - G_p(i) and a CSV with every row sums exactly to
# the totals in the JSON. About 1.5% of the actas are captured with every
# field empty ("SIN DATO"): captured, not counted.

WEIGHT_BASE = 256       # casilla weight = 256 + one pseudo-random byte
FLAG_BELOW = 4          # extra byte < 4: the acta is captured but not counted
REGISTER_AHEAD_H = 10 / 60.0   # actas are registered ~10 minutes before captured


class District:
    def __init__(self, model, state, num, gidx, ln, casillas, votes_full, tau, k, cap,
                 sec_start):
        self.model = model
        self.state = state          # index into STATES
        self.num = num              # 1-based within the state
        self.gidx = gidx            # 0..299
        self.ln = ln
        self.C = casillas
        self.M = votes_full
        self.V = sum(votes_full)
        self.tau = tau
        self.k = k
        self.cap = cap
        self.sec_start = sec_start
        self.S = (casillas + 1) // 2     # secciones
        self._built = False

    @property
    def sid(self):
        return STATES[self.state][0]

    @property
    def did(self):
        return "%02d" % self.num

    def counted(self, hours):
        if hours <= 0:
            return 0
        f = self.cap * (1.0 - math.exp(-((hours / self.tau) ** self.k)))
        return min(self.C, int(self.C * f))

    def build(self):
        if self._built:
            return
        P = len(self.M)
        stride = P + 1
        C = self.C
        b = random.Random("%s|w|%d" % (self.model.key, self.gidx)).randbytes(C * stride)
        self.acc = [array("q", itertools.accumulate(b[p::stride], initial=0))
                    for p in range(stride)]
        self.wtot = [WEIGHT_BASE * C + self.acc[p][C] for p in range(P)]
        V = self.V or 1
        self.lnshare = [max(1, round(1000 * m / V)) for m in self.M]
        self.lntot = self._wln(C)
        extra = b[P::stride]
        self.flagged = [i for i in range(C) if extra[i] < FLAG_BELOW]
        cum_votes = [[0] * P]
        cum_ln = [0]
        for i in self.flagged:
            v = self.votes_of(i)
            cum_votes.append([a + x for a, x in zip(cum_votes[-1], v)])
            cum_ln.append(cum_ln[-1] + self.ln_of(i))
        self.flag_votes = cum_votes
        self.flag_ln = cum_ln
        self._built = True

    def _wln(self, a):
        acc = self.acc
        s = 0
        for p, sh in enumerate(self.lnshare):
            s += sh * (WEIGHT_BASE * a + acc[p][a])
        return s + 120 * (acc[-1][a] - 128 * a)

    def G(self, p, a):
        return self.M[p] * (WEIGHT_BASE * a + self.acc[p][a]) // self.wtot[p]

    def G_ln(self, a):
        return self.ln * self._wln(a) // self.lntot

    def votes_of(self, i):
        return [self.G(p, i + 1) - self.G(p, i) for p in range(len(self.M))]

    def ln_of(self, i):
        return self.G_ln(i + 1) - self.G_ln(i)

    def aggregate(self, hours):
        """[esperadas, registradas, capturadas, contabilizadas, LN contabilizadas,
        votes...] at the cut at `hours` after 20:00."""
        self.build()
        A = self.counted(hours)
        R = max(A, self.counted(hours + REGISTER_AHEAD_H))
        f = bisect.bisect_left(self.flagged, A)
        fv = self.flag_votes[f]
        votes = [self.G(p, A) - fv[p] for p in range(len(self.M))]
        return [self.C, R, A, A - f, self.G_ln(A) - self.flag_ln[f]] + votes

    # ---- casillas, in CSV order (by sección)
    def casillas(self):
        rng = random.Random("%s|c|%d" % (self.model.key, self.gidx))
        counts = [1] * self.S
        for _ in range(self.C - self.S):
            counts[rng.randrange(self.S)] += 1
        out = []
        for s, n in enumerate(counts):
            sec = self.sec_start + s
            out.append((sec, "B", 1))
            for c in range(1, n):
                out.append((sec, "C", c))
        return out

    def arrival_perm(self):
        """perm[j] = arrival index of the casilla at CSV position j."""
        perm = list(range(self.C))
        random.Random("%s|p|%d" % (self.model.key, self.gidx)).shuffle(perm)
        return perm


class Model:
    def __init__(self, profile, seed):
        self.profile = profile
        self.seed = str(seed)
        self.key = "%s|%d" % (self.seed, profile.year)
        rng = random.Random(self.key + "|model")
        parties = profile.parties
        P = len(parties)
        base = [p[4] for p in parties]
        s = sum(base)
        base = [x / s for x in base]
        n_d = sum(st[3] for st in STATES)
        ln_avg = profile.ln_total / n_d
        self.districts = []
        self.by_state = []
        gidx = 0
        for si, st in enumerate(STATES):
            sf = [math.exp(rng.gauss(0, 0.22)) for _ in range(P)]
            speed = rng.uniform(0.85, 1.2)
            st_turn = rng.gauss(0, 0.03)
            sec_next = 1
            ds = []
            for dn in range(1, st[3] + 1):
                ln = int(ln_avg * rng.uniform(0.88, 1.12))
                cas = max(2, round(ln / rng.uniform(535, 565)))
                turnout = min(0.8, max(0.42, profile.turnout + st_turn + rng.gauss(0, 0.03)))
                V = round(ln * turnout)
                w = [base[p] * sf[p] * math.exp(rng.gauss(0, 0.12)) for p in range(P)]
                M = apportion(V, w)
                tau = rng.uniform(3.0, 6.0) / speed
                k = rng.uniform(1.25, 1.8)
                cap = rng.uniform(0.955, 0.995)
                d = District(self, si, dn, gidx, ln, cas, M, tau, k, cap, sec_next)
                sec_next += d.S
                gidx += 1
                ds.append(d)
                self.districts.append(d)
            self.by_state.append(ds)
        self.esperadas = sum(d.C for d in self.districts)

    # ---- cut times
    def cut_time(self, n, step_min):
        return self.profile.start + dt.timedelta(minutes=n * step_min)

    @staticmethod
    def hours(n, step_min):
        return n * step_min / 60.0


def add_agg(a, b):
    return [x + y for x, y in zip(a, b)] if a else list(b)


def pct(num, den):
    return round(100.0 * num / den, 4) if den else 0.0


def fmt4(x):
    return "%.4f" % x


# --------------------------------------------------------------------------
# Sizes

def parse_size(text):
    t = text.strip()
    if t.lower() == "small":
        return None
    units = [("kib", 1024), ("mib", 1024 ** 2), ("gib", 1024 ** 3),
             ("kb", 1000), ("mb", 1000 ** 2), ("gb", 1000 ** 3), ("k", 1000),
             ("m", 1000 ** 2), ("g", 1000 ** 3), ("b", 1)]
    low = t.lower()
    for suf, mul in units:
        if low.endswith(suf):
            num = low[: -len(suf)].strip()
            break
    else:
        num, mul = low, 1
    try:
        v = float(num)
    except ValueError:
        raise Fail("--size: %r is not small, 10MB, 100MB or a number of bytes" % text)
    if v <= 0 or v * mul > 4 * 1000 ** 3:
        raise Fail("--size: %r is out of range (1 byte to 4 GB)" % text)
    return int(v * mul)


def parse_duration(text):
    t = text.strip().lower()
    mul = 1.0
    for suf, m in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suf):
            t, mul = t[: -len(suf)], m
            break
    try:
        v = float(t) * mul
    except ValueError:
        raise Fail("--every: %r is not a duration such as 15s, 500ms or 2m" % text)
    if not (0.05 <= v <= 86400):
        raise Fail("--every: %r is out of range (50ms to 24h)" % text)
    return v


# --------------------------------------------------------------------------
# The package

CSV_SAMPLE_SMALL = 200
FEW_DISTRICTS = 3               # district JSON files per state below 1 MB
ALL_DISTRICTS_FROM = 1_000_000  # bytes: every district file from this size
FILLER_IMAGE = 256 * 1024
PNG_WIDTH = 1024


class Cut:
    """One cut of the night: everything a package of it needs."""

    def __init__(self, model, n, step_min):
        self.model = model
        self.profile = model.profile
        self.n = n
        self.step = step_min
        self.time = model.cut_time(n, step_min)
        self.hours = Model.hours(n, step_min)
        self.label = self.time.strftime("%Y%m%d_%H%M")
        self.fecha = self.time.strftime("%d/%m/%Y")
        self.hora = self.time.strftime("%H:%M")
        self.iso = self.time.strftime("%Y-%m-%dT%H:%M:00") + self.profile.iso_offset
        self.d_agg = [d.aggregate(self.hours) for d in model.districts]
        self.s_agg = []
        for ds in model.by_state:
            a = []
            for d in ds:
                a = add_agg(a, self.d_agg[d.gidx])
            self.s_agg.append(a)
        a = []
        for x in self.s_agg:
            a = add_agg(a, x)
        self.n_agg = a

    def package_name(self):
        p = self.profile
        if p.fixed_name:
            return p.fixed_name
        return "%s_PREP_%s_%s%s" % (self.label, p.elec, p.ent, p.ext)

    def db_name(self):
        return "datos/%s_PREP_%s.zip" % (self.label, DB_ELEC)

    def zip_time(self):
        t = self.time
        return (t.year, t.month, t.day, t.hour, t.minute, 0)

    def epoch(self):
        # local time of the cut, as a UTC instant (offset from the profile)
        off = int(self.profile.utc[3:])
        return int((self.time - dt.timedelta(hours=off)).replace(
            tzinfo=dt.timezone.utc).timestamp())


# ---- JSON tree

def scope_json(cut, ambito, agg, entidad=None, distrito=None, children=None,
               children_key=None):
    prof = cut.profile
    esp, reg, cap, cont, lnc = agg[:5]
    votes = agg[5:]
    total = sum(votes)
    out = {
        "simulacro": True,
        "generador": "prepsim",
        "eleccion": ELECCION,
        "proceso": prof.proceso,
        "anio": prof.year,
        "ambito": ambito,
    }
    if entidad is not None:
        out["entidad"] = entidad
    if distrito is not None:
        out["distrito"] = distrito
    out["ultimoCorte"] = {"fecha": cut.fecha, "hora": cut.hora, "zonaHoraria": prof.utc,
                          "iso": cut.iso, "numero": cut.n}
    out["actas"] = {
        "esperadas": esp, "registradas": reg, "capturadas": cap,
        "contabilizadas": cont, "noContabilizadas": cap - cont,
        "porcentajeCapturadas": pct(cap, esp),
        "porcentajeContabilizadas": pct(cont, esp),
    }
    out["participacionCiudadana"] = {
        "porcentaje": pct(total, lnc), "totalVotos": total, "listaNominal": lnc,
    }
    out["totalVotos"] = total
    out["votos"] = [
        {"id": p[0], "siglas": p[1], "nombre": p[2], "color": p[3], "tipo": p[5],
         "votos": v, "porcentaje": pct(v, total)}
        for p, v in zip(prof.parties, votes)
    ]
    if children is not None:
        out[children_key] = children
    out["baseDatos"] = cut.db_name()
    return out


def leader(cut, agg):
    best, who = 0, None
    for p, v in zip(cut.profile.parties, agg[5:]):
        if p[5] == "partido" and v > best:
            best, who = v, p[0]
    return who


def child_entry(cut, cid, nombre, agg, archivo):
    return {"id": cid, "nombre": nombre, "archivo": archivo,
            "actasEsperadas": agg[0], "actasCapturadas": agg[2],
            "actasContabilizadas": agg[3], "porcentajeActas": pct(agg[2], agg[0]),
            "totalVotos": sum(agg[5:]), "primerLugar": leader(cut, agg)}


JSON_ROOT = "assets/JSON/PRESIDENTE"


def json_bytes(obj):
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def district_files(model, all_districts):
    """The districts that get a JSON file of their own."""
    out = set()
    for ds in model.by_state:
        chosen = ds if all_districts else ds[:FEW_DISTRICTS]
        out.update(d.gidx for d in chosen)
    return out


def json_tree(cut, all_districts):
    model = cut.model
    with_file = district_files(model, all_districts)
    files = {}
    ents = []
    for si, st in enumerate(STATES):
        sid = st[0]
        spath = "%s/ENTIDAD/Presidente_ENTIDAD_%s.json" % (JSON_ROOT, sid)
        ents.append(child_entry(cut, sid, st[2], cut.s_agg[si], spath))
        dchildren = []
        for d in model.by_state[si]:
            dpath = None
            dname = "Distrito %s" % d.did
            if d.gidx in with_file:
                dpath = "%s/DISTRITO/Presidente_DISTRITO_%s_%s.json" % (JSON_ROOT, sid, d.did)
                files[dpath] = json_bytes(scope_json(
                    cut, "DISTRITO", cut.d_agg[d.gidx],
                    entidad={"id": sid, "nombre": st[2]},
                    distrito={"id": d.did, "nombre": dname}))
            dchildren.append(child_entry(cut, d.did, dname, cut.d_agg[d.gidx], dpath))
        files[spath] = json_bytes(scope_json(
            cut, "ENTIDAD", cut.s_agg[si], entidad={"id": sid, "nombre": st[2]},
            children=dchildren, children_key="distritos"))
    files["%s/NACIONAL/Presidente_NACIONAL.json" % JSON_ROOT] = json_bytes(scope_json(
        cut, "NACIONAL", cut.n_agg, children=ents, children_key="entidades"))
    return files


# ---- the CSV database

CSV_LEAD = ["CLAVE_CASILLA", "CLAVE_ACTA", "ID_ENTIDAD", "ENTIDAD", "ID_DISTRITO_FEDERAL",
            "DISTRITO_FEDERAL", "SECCION", "ID_CASILLA", "TIPO_CASILLA", "EXT_CONTIGUA",
            "UBICACION_CASILLA", "TIPO_ACTA"]
CSV_TAIL = ["TOTAL_VOTOS_CALCULADOS", "LISTA_NOMINAL", "OBSERVACIONES", "CONTABILIZADA",
            "MECANISMOS_TRASLADO", "SHA", "FECHA_HORA_ACOPIO", "FECHA_HORA_CAPTURA",
            "FECHA_HORA_VERIFICACION", "ORIGEN", "DIGITALIZACION", "TIPO_DOCUMENTO",
            "COTEJADA"]
TOTALS_HEADER = ["ACTAS_ESPERADAS", "ACTAS_REGISTRADAS", "ACTAS_FUERA_CATALOGO",
                 "ACTAS_CAPTURADAS", "PORCENTAJE_ACTAS_CAPTURADAS", "ACTAS_CONTABILIZADAS",
                 "PORCENTAJE_ACTAS_CONTABILIZADAS", "PORCENTAJE_ACTAS_INCONSISTENCIAS",
                 "ACTAS_NO_CONTABILIZADAS", "LISTA_NOMINAL_ACTAS_CONTABILIZADAS",
                 "TOTAL_VOTOS_C_CS", "TOTAL_VOTOS_S_CS", "PORCENTAJE_PARTICIPACION_CIUDADANA"]
MECANISMOS = ["D", "F", "F", "I", "D", "F"]


def rows_plan(model, nrows):
    """{gidx: [CSV positions]} spreading nrows over the 300 districts."""
    total = model.esperadas
    n_d = len(model.districts)
    plan = {}
    if nrows >= total:
        for d in model.districts:
            plan[d.gidx] = range(d.C)
        return plan
    for d in model.districts:
        g = d.gidx
        r = (g + 1) * nrows // n_d - g * nrows // n_d
        if r <= 0:
            continue
        r = min(r, d.C)
        seg = d.C // r
        off = int(unit_random(model.key, "row", g) * max(1, seg))
        plan[g] = [min(d.C - 1, q * d.C // r + off) for q in range(r)]
    return plan


def csv_text(cut, nrows):
    model = cut.model
    prof = cut.profile
    P = len(prof.parties)
    sep, eol = prof.sep, prof.eol
    t = cut.n_agg
    esp, reg, cap, cont, lnc = t[:5]
    total = sum(t[5:])
    buf = io.StringIO()
    head = [
        "%s - %s - SIMULACRO (DATOS FICTICIOS)" % (ELECCION.upper(), prof.proceso.upper()),
        "%s %s (%s)" % (cut.fecha, cut.hora, prof.utc),
        sep.join(TOTALS_HEADER),
        sep.join(str(x) for x in [
            esp, reg, 0, cap, fmt4(pct(cap, esp)), cont, fmt4(pct(cont, esp)),
            fmt4(pct(cap - cont, esp)), cap - cont, lnc, total, total,
            fmt4(pct(total, lnc))]),
    ]
    buf.write(eol.join(head) + eol)
    w = csv.writer(buf, delimiter=sep, lineterminator=eol, quoting=csv.QUOTE_MINIMAL)
    w.writerow(CSV_LEAD + [p[0] for p in prof.parties] + CSV_TAIL)
    plan = rows_plan(model, nrows)
    step_s = cut.step * 60
    dash = ["-"] * P
    sindato = ["SIN DATO"] * P
    for d in model.districts:
        js = plan.get(d.gidx)
        if not js:
            continue
        d.build()
        st = STATES[d.state]
        sid = st[0]
        cas = d.casillas()
        perm = d.arrival_perm()
        A_list = [d.counted(Model.hours(k, cut.step)) for k in range(cut.n + 1)]
        A = A_list[-1]
        flagged = set(d.flagged)
        dname = "DISTRITO %s" % d.did
        for j in js:
            sec, tipo, idc = cas[j]
            i = perm[j]
            clave = "%s%04d%s%02d%02d" % (sid, sec, tipo, idc, 0)
            ln = d.ln_of(i)
            urb = "1" if (sec * 2654435761) % 7 < 5 else "2"
            lead = [clave, clave + "2", int(sid), st[1], d.num, dname, sec, idc, tipo, 0,
                    urb, 2]
            if i < A:
                h = hashlib.sha256(("%s|acta|%s" % (model.key, clave)).encode()).digest()
                sha = h.hex()
                arrived = bisect.bisect_right(A_list, i)       # the cut it came in
                t_end = cut.model.cut_time(arrived, cut.step)
                span = step_s if arrived > 0 else 0
                acopio = t_end - dt.timedelta(seconds=span * (0.35 + 0.6 * h[0] / 256.0))
                captura = acopio + dt.timedelta(seconds=(t_end - acopio).total_seconds()
                                                * (0.2 + 0.5 * h[1] / 256.0))
                verif = captura + dt.timedelta(seconds=(t_end - captura).total_seconds()
                                               * h[2] / 256.0)
                mec = "SIN DATO" if h[3] < 8 else MECANISMOS[h[4] % len(MECANISMOS)]
                casilla_app = h[5] < 150
                origen = "CASILLA" if casilla_app else "CATD"
                digit = "MÓVIL" if casilla_app else "ESCÁNER"
                fmt = "%d/%m/%Y %H:%M:%S"
                times = [acopio.strftime(fmt), captura.strftime(fmt), verif.strftime(fmt)]
                cotejada = "1" if h[6] < 230 else "0"
                if i in flagged:
                    row = lead + sindato + ["SIN DATO", ln, "Sin dato", 0, mec, sha] + times + [
                        origen, digit, "ACTA PREP", cotejada]
                else:
                    v = d.votes_of(i)
                    row = lead + v + [sum(v), ln, "-", 1, mec, sha] + times + [
                        origen, digit, "ACTA PREP", cotejada]
            else:
                row = lead + dash + ["-", ln, "Sin acta", 0, "-", "", "-", "-", "-", "-",
                                     "-", "-", "-"]
            w.writerow(row)
    return buf.getvalue()


def leeme_text(cut):
    prof = cut.profile
    sepname = "coma (,)" if prof.sep == "," else "barra vertical (|)"
    eolname = "LF" if prof.eol == "\n" else "CRLF"
    enc = "UTF-8" if prof.encoding == "utf-8" else "ISO-8859-1 (Latin-1)"
    party_lines = "\n".join("  %-16s votos de %s" % (p[0], p[2]) for p in prof.parties)
    text = f"""LEEME - Base de datos del PREP (simulacro)
==========================================

{ELECCION}, {prof.proceso}.
Corte: {cut.fecha} {cut.hora} ({prof.utc}, hora del centro).

ESTOS DATOS SON FICTICIOS. Los generó prepsim para simulacros y pruebas;
no corresponden a ninguna elección real.

Formato
-------
Archivo CSV, codificación {enc}, separador {sepname}, fin de línea {eolname}.

Las primeras cuatro líneas son el encabezado:
  1. Nombre de la elección.
  2. Fecha y hora del corte, con su zona horaria: {cut.fecha} {cut.hora} ({prof.utc}).
  3. Nombres de los totales.
  4. Los totales del corte (nacionales):
     ACTAS_ESPERADAS                    actas que se esperan (una por casilla)
     ACTAS_REGISTRADAS                  actas recibidas en los centros de acopio
     ACTAS_FUERA_CATALOGO               actas de casillas fuera del catálogo
     ACTAS_CAPTURADAS                   actas capturadas
     PORCENTAJE_ACTAS_CAPTURADAS        capturadas / esperadas x 100
     ACTAS_CONTABILIZADAS               actas capturadas que se suman a los resultados
     PORCENTAJE_ACTAS_CONTABILIZADAS    contabilizadas / esperadas x 100
     PORCENTAJE_ACTAS_INCONSISTENCIAS   actas con inconsistencias / esperadas x 100
     ACTAS_NO_CONTABILIZADAS            actas capturadas que no se contabilizan
     LISTA_NOMINAL_ACTAS_CONTABILIZADAS lista nominal de las casillas contabilizadas
     TOTAL_VOTOS_C_CS                   total de votos, con casillas especiales
     TOTAL_VOTOS_S_CS                   total de votos, sin casillas especiales
     PORCENTAJE_PARTICIPACION_CIUDADANA total de votos / lista nominal x 100
La quinta línea nombra las columnas; después hay una línea por casilla.

Columnas
--------
  CLAVE_CASILLA    entidad (2) + sección (4) + tipo (1) + número (2) + extensión (2)
  CLAVE_ACTA       clave de la casilla + tipo de acta
  ID_ENTIDAD       número de la entidad federativa (1 a 32)
  ENTIDAD          nombre de la entidad federativa
  ID_DISTRITO_FEDERAL  número del distrito electoral federal
  DISTRITO_FEDERAL nombre del distrito
  SECCION          sección electoral
  ID_CASILLA       número de la casilla
  TIPO_CASILLA     B básica, C contigua
  EXT_CONTIGUA     número de la extensión contigua (0 si no hay)
  UBICACION_CASILLA 1 urbana, 2 no urbana
  TIPO_ACTA        tipo de acta (2: presidencia)
{party_lines}
  TOTAL_VOTOS_CALCULADOS suma de los votos del acta
  LISTA_NOMINAL    ciudadanos en la lista nominal de la casilla
  OBSERVACIONES    "-" sin observaciones; "Sin dato": el acta llegó con todos los
                   campos vacíos y no se contabiliza; "Sin acta": aún no se captura
  CONTABILIZADA    1 si el acta se suma a los resultados, 0 si no
  MECANISMOS_TRASLADO D dispositivo de apoyo, F fijo, I itinerante;
                   "SIN DATO" si no se registró
  SHA              huella SHA-256 (64 caracteres hexadecimales) de la imagen del
                   acta; vacío si el acta aún no se captura
  FECHA_HORA_ACOPIO, FECHA_HORA_CAPTURA, FECHA_HORA_VERIFICACION
                   fecha y hora (dd/mm/aaaa hh:mm:ss, hora del centro)
  ORIGEN           CASILLA (aplicación en la casilla) o CATD (centro de acopio)
  DIGITALIZACION   MÓVIL o ESCÁNER
  TIPO_DOCUMENTO   ACTA PREP
  COTEJADA         1 si la imagen se cotejó con el acta

Valores especiales
------------------
  SIN DATO  el campo no se capturó
  -         no aplica o el acta aún no se captura

En los paquetes de tamaño reducido la base contiene sólo una muestra de las
casillas; el encabezado conserva los totales nacionales del corte. Con todas
las casillas, la suma de las filas contabilizadas es igual a los totales.
"""
    return text.replace("\n", prof.eol)


def db_zip_bytes(cut, nrows):
    prof = cut.profile
    data = csv_text(cut, nrows).encode(prof.encoding)
    leeme = leeme_text(cut).encode(prof.encoding)
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        base = "%s_PREP_%s" % (cut.label, DB_ELEC)
        for name, payload in (("%s/%s_%d.csv" % (base, DB_ELEC, prof.year), data),
                              ("%s/LEEME.txt" % base, leeme)):
            zi = zipfile.ZipInfo(name, cut.zip_time())
            zi.create_system = 3
            zi.external_attr = 0o100644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, payload, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return bio.getvalue()


# ---- the site

def site_files():
    """index.html and the fingerprinted bundles, from site/ beside this file."""
    def read(name):
        with open(os.path.join(SITE_DIR, name), "rb") as f:
            return f.read()
    out = {}
    names = {}
    for src, stem, ext in (("main.js", "main", "js"), ("polyfills.js", "polyfills", "js"),
                           ("styles.css", "styles", "css")):
        data = read(src)
        fp = "%s.%s.%s" % (stem, sha256_hex(data)[:16], ext)
        names[src] = fp
        out[fp] = data
    index = read("index.html").decode("utf-8")
    for src, fp in names.items():
        index = index.replace("{{%s}}" % src, fp)
    out["index.html"] = index.encode("utf-8")
    out["404.html"] = read("404.html")
    out["favicon.svg"] = read("favicon.svg")
    out["3rdpartylicenses.txt"] = read("3rdpartylicenses.txt")
    return out


# ---- filler: simulated acta images (noise PNGs)

def png_bytes(seed_key, k, nbytes):
    """A grey-noise PNG of exactly nbytes (at least ~1.1 KB): stored zlib, so it
    does not compress, plus a private ancillary chunk that pads it."""
    row = PNG_WIDTH + 1
    fixed = 8 + 25 + 12 + 12 + 12 + 6     # signature, IHDR, IDAT, pad chunk, IEND, zlib
    h = max(1, int((nbytes - fixed) / (row * (1 + 5 / 16384.0))) - 1)
    raw_len = h * row
    data = bytearray(random.Random("%s|png|%d" % (seed_key, k)).randbytes(raw_len + nbytes))
    pad_src = bytes(data[raw_len:])
    del data[raw_len:]
    data[0::row] = bytes(h)          # filter type 0 for every scanline
    comp = zlib.compress(bytes(data), 0)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", PNG_WIDTH, h, 8, 0, 0, 0, 0))
    body = chunk(b"IDAT", comp)
    tail = chunk(b"IEND", b"")
    pad = max(0, nbytes - len(head) - len(body) - len(tail) - 12)
    return head + chunk(b"prEp", pad_src[:pad]) + body + tail


class Filler:
    def __init__(self, seed_key, total):
        self.seed_key = seed_key
        self.total = max(0, total)
        n = max(1, round(self.total / FILLER_IMAGE)) if self.total >= 4096 else 0
        self.sizes = []
        if n:
            base = self.total // n
            self.sizes = [base] * (n - 1) + [self.total - base * (n - 1)]

    def names(self):
        return ["assets/img/actas/acta-%06d.png" % (k + 1) for k in range(len(self.sizes))]

    def data(self, k):
        return png_bytes(self.seed_key, k, self.sizes[k])


# ---- packing

STORE_EXT = (".zip", ".png", ".gz", ".jpg")


def all_dirs(paths):
    dirs = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for q in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:q]))
    return dirs


def write_package(fileobj, cut, entries, filler):
    """entries: {path: bytes}; filler: Filler or None. Sorted, fixed times."""
    lazy = {}
    if filler:
        for k, name in enumerate(filler.names()):
            lazy[name] = k
    paths = sorted(set(entries) | set(lazy))
    dirs = all_dirs(paths)
    order = sorted([(p, False) for p in paths] + [(d, True) for d in dirs])
    prof = cut.profile

    def payload(p):
        return entries[p] if p in entries else filler.data(lazy[p])

    if prof.ext == ".zip":
        with zipfile.ZipFile(fileobj, "w", allowZip64=True) as z:
            for p, is_dir in order:
                if is_dir:
                    zi = zipfile.ZipInfo(p + "/", cut.zip_time())
                    zi.create_system = 3
                    zi.external_attr = (0o40755 << 16) | 0x10
                    z.writestr(zi, b"")
                    continue
                zi = zipfile.ZipInfo(p, cut.zip_time())
                zi.create_system = 3
                zi.external_attr = 0o100644 << 16
                if p.endswith(STORE_EXT):
                    zi.compress_type = zipfile.ZIP_STORED
                    z.writestr(zi, payload(p), compress_type=zipfile.ZIP_STORED)
                else:
                    zi.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(zi, payload(p), compress_type=zipfile.ZIP_DEFLATED,
                               compresslevel=6)
    else:
        mtime = cut.epoch()
        with gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, compresslevel=6,
                           mtime=mtime) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for p, is_dir in order:
                    ti = tarfile.TarInfo(p + "/" if is_dir else p)
                    ti.mtime = mtime
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = "root"
                    if is_dir:
                        ti.type = tarfile.DIRTYPE
                        ti.mode = 0o755
                        tar.addfile(ti)
                    else:
                        data = payload(p)
                        ti.mode = 0o644
                        ti.size = len(data)
                        tar.addfile(ti, io.BytesIO(data))


class Built:
    def __init__(self, name, path, size, sha):
        self.name, self.path, self.size, self.sha = name, path, size, sha


def build_package(out_dir, cut, size, kind):
    """Writes the package for cut into out_dir under a dot-temp name and returns
    Built(name, temp path, size, sha256). The caller renames it into place."""
    model = cut.model
    big = size is not None and size >= ALL_DISTRICTS_FROM
    entries = dict(json_tree(cut, big))
    if kind == "full":
        entries.update(site_files())

    # CSV rows: ~200 when small, else as many as half the size holds, at most
    # one row per casilla in the country.
    nrows = CSV_SAMPLE_SMALL
    if big:
        target = size // 2
        nrows = min(model.esperadas, max(CSV_SAMPLE_SMALL, target // 75))
    db = db_zip_bytes(cut, nrows)
    if big and nrows < model.esperadas and len(db) > target * 1.1:
        nrows = max(CSV_SAMPLE_SMALL, int(nrows * target / len(db)))
        db = db_zip_bytes(cut, nrows)
    entries[cut.db_name()] = db

    name = cut.package_name()
    tmp = os.path.join(out_dir, ".%s.%d.tmp" % (name, os.getpid()))
    try:
        return _write_built(tmp, name, cut, entries, size, kind)
    except BaseException:
        remove_quietly(tmp)
        raise


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_built(tmp, name, cut, entries, size, kind):
    model = cut.model
    filler = None
    if size is not None and kind == "full":
        with open(tmp, "wb") as f:
            write_package(f, cut, entries, None)
        base = os.path.getsize(tmp)
        if size > base:
            per = 140 if cut.profile.ext == ".zip" else 150
            want = size - base
            n = max(1, round(want / FILLER_IMAGE)) if want >= 4096 else 0
            filler = Filler(model.key, want - n * per)
            if not filler.sizes:
                filler = None
        elif size < base:
            note("--size: %d bytes asked, but the smallest %s package of this cut is "
                 "%d bytes; writing that" % (size, kind, base))
    with open(tmp, "wb") as f:
        write_package(f, cut, entries, filler)
        f.flush()
        os.fsync(f.fileno())
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return Built(name, tmp, os.path.getsize(tmp), h.hexdigest())


def write_atomic(path, data):
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def sidecar_bytes(sha, name):
    return ("%s  %s\n" % (sha, name)).encode()


def wrong_sha(sha):
    return "".join("%x" % (15 - int(c, 16)) for c in sha)


def sign_file(mode, pkg_path, out_path, key, cert, corrupt=False):
    """Detached signature of pkg_path with openssl. corrupt: sign other bytes,
    so the signature is well-formed but does not match the package."""
    src = pkg_path
    tmp_src = None
    if corrupt:
        tmp_src = out_path + ".src"
        with open(pkg_path, "rb") as f, open(tmp_src, "wb") as g:
            g.write(f.read() + b"\n")
        src = tmp_src
    if mode == "ed25519":
        cmd = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", src,
               "-out", out_path]
    else:
        cmd = ["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", src,
               "-signer", cert, "-inkey", key, "-out", out_path]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise Fail("--sign %s: openssl is not installed (apt-get install openssl)" % mode)
    finally:
        if tmp_src:
            os.unlink(tmp_src)
    if r.returncode != 0:
        raise Fail("--sign %s: openssl failed: %s" % (
            mode, r.stderr.decode(errors="replace").strip().splitlines()[-1:]))


EVIDENCE_EXT = {"ed25519": ".sig", "cms": ".p7s"}


# --------------------------------------------------------------------------
# make

def check_sign_args(sign, key, cert):
    if sign in ("ed25519", "cms") and not key:
        raise Fail("--sign %s needs --key FILE (the private key, PEM)" % sign)
    if sign == "cms" and not cert:
        raise Fail("--sign cms needs --cert FILE (the signer's certificate, PEM)")
    for f in (key, cert):
        if f and sign in ("ed25519", "cms") and not os.path.isfile(f):
            raise Fail("--sign: %s: no such file" % f)


def cmd_make(a):
    prof = PROFILES[a.profile]
    size = parse_size(a.size)
    if a.cut < 0:
        raise Fail("--cut: must be 0 or more")
    key = a.sign_key or a.key
    cert = a.sign_cert or a.cert
    check_sign_args(a.sign, key, cert)
    os.makedirs(a.out_dir, exist_ok=True)
    model = Model(prof, a.seed)
    cut = Cut(model, a.cut, a.step)
    b = build_package(a.out_dir, cut, size, a.kind)
    final = os.path.join(a.out_dir, b.name)
    os.replace(b.path, final)
    write_atomic(final + ".sha256", sidecar_bytes(b.sha, b.name))
    if a.sign in EVIDENCE_EXT:
        ev = final + EVIDENCE_EXT[a.sign]
        tmp = os.path.join(a.out_dir, ".%s%s.%d.tmp" % (b.name, EVIDENCE_EXT[a.sign], os.getpid()))
        sign_file(a.sign, final, tmp, key, cert)
        os.replace(tmp, ev)
    print(final, flush=True)
    return 0


# --------------------------------------------------------------------------
# run: a night

FAULTS_SPOOL = ("late", "truncated", "badhash")
FAULTS_SERVE = ("late", "truncated", "badhash", "5xx", "stall")
FAULT_RATE = 0.2


class Stop(Exception):
    pass


def cut_faults(seed, n, faults, first):
    if first:
        return []
    return [f for f in faults if unit_random(seed, "fault", f, n) < FAULT_RATE]


class Night:
    """The common part of spool and serve: the schedule and the packages."""

    def __init__(self, a, out_dir):
        self.a = a
        self.prof = PROFILES[a.profile]
        self.size = parse_size(a.size)
        self.period = parse_duration(a.every)
        self.model = Model(self.prof, a.seed)
        self.out_dir = out_dir
        self.stop = threading.Event()

    def kind_of(self, k):
        return "incremental" if (self.a.kind == "incremental" and k > 0) else "full"

    def cuts(self):
        k = 0
        while self.a.cuts is None or k < self.a.cuts:
            yield k, self.a.start_cut + k
            k += 1

    def wait_until(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.stop.wait(min(left, 0.5)):
                raise Stop()


def install_signals(night):
    def handler(signum, frame):
        if night.stop.is_set():
            return              # already stopping: let the clean-up finish
        night.stop.set()
        raise Stop()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def make_evidence(night, built, faults, key, cert):
    """{ext: temp path} for the sidecar and the signature, next to built.path.
    badhash: the sidecar names a wrong SHA-256 and the signature is of other
    bytes."""
    ev = {}
    try:
        sha = wrong_sha(built.sha) if "badhash" in faults else built.sha
        p = built.path + ".sha256"
        ev[".sha256"] = p
        write_atomic(p, sidecar_bytes(sha, built.name))
        sign = night.a.sign
        if sign in EVIDENCE_EXT:
            p = built.path + EVIDENCE_EXT[sign]
            ev[EVIDENCE_EXT[sign]] = p
            sign_file(sign, built.path, p, key, cert, corrupt="badhash" in faults)
    except BaseException:
        for p in ev.values():
            remove_quietly(p)
        raise
    return ev


def truncate_file(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(max(1, size // 2))
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def cut_line(cut, path, faults, kind, size, extra=""):
    return "prepsim cut=%d file=%s faults=%s time=%s kind=%s size=%d%s" % (
        cut.n, path, ",".join(faults) or "none", cut.iso[:16], kind, size, extra)


def run_spool(a):
    spool = a.spool
    if not os.path.isdir(spool):
        raise Fail("--spool: %s is not a folder" % spool)
    faults = parse_faults(a.faults, FAULTS_SPOOL, "--spool")
    key = a.sign_key or a.key
    cert = a.sign_cert or a.cert
    check_sign_args(a.sign, key, cert)
    night = Night(a, spool)
    install_signals(night)
    temps = []
    done = 0
    try:
        due = time.monotonic()
        for k, n in night.cuts():
            cut = Cut(night.model, n, a.step)
            fl = cut_faults(a.seed, n, faults, k == 0)
            kind = night.kind_of(k)
            b = build_package(spool, cut, night.size, kind)
            temps.append(b.path)
            ev = make_evidence(night, b, fl, key, cert)
            temps.extend(ev.values())
            if "truncated" in fl:
                truncate_file(b.path)
            if "late" in fl:
                due += 2 * night.period
            night.wait_until(due)
            final = os.path.join(spool, b.name)
            size = os.path.getsize(b.path)
            os.replace(b.path, final)
            fsync_dir(spool)
            for ext in [".sha256"] + [e for e in ev if e != ".sha256"]:
                os.replace(ev[ext], final + ext)
            fsync_dir(spool)
            temps.clear()
            done += 1
            print(cut_line(cut, final, fl, kind, size), flush=True)
            due += night.period
    except Stop:
        pass
    finally:
        for t in temps:
            try:
                os.unlink(t)
            except OSError:
                pass
    print("prepsim stop cuts=%d reason=%s" % (done, "signal" if night.stop.is_set() else "done"),
          flush=True)
    return 0


def parse_faults(text, allowed, where):
    if not text:
        return []
    out = []
    for f in text.split(","):
        f = f.strip().lower()
        if not f:
            continue
        if f == "503":
            f = "5xx"
        if f not in allowed:
            raise Fail("--faults: %r is not one of %s with %s" % (f, ",".join(allowed), where))
        if f not in out:
            out.append(f)
    return out


# ---- serve

class Served:
    def __init__(self, path, ctype, etag, mtime, size):
        self.path, self.ctype, self.etag, self.mtime, self.size = path, ctype, etag, mtime, size


class ServeState:
    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}          # url path -> Served
        self.faults = set()
        self.fault_paths = set()  # package paths that truncated/stall apply to
        self.fault_until = 0.0
        self.stop = threading.Event()

    def active_faults(self):
        with self.lock:
            if time.monotonic() < self.fault_until:
                return set(self.faults), set(self.fault_paths), self.fault_until
        return set(), set(), 0.0


def ctype_of(name):
    if name.endswith(".zip"):
        return "application/zip"
    if name.endswith(".tar.gz"):
        return "application/gzip"
    if name.endswith((".txt", ".sha256")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "prepsim"
    sys_version = ""

    fault = None

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        if not self.server.quiet:
            note("http %s %s %s %s%s" % (self.client_address[0], self.command, self.path,
                                         getattr(code, "value", code),
                                         " fault=" + self.fault if self.fault else ""))

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            note("http %s %s" % (self.client_address[0], fmt % args))

    def do_GET(self):
        self.serve(True)

    def do_HEAD(self):
        self.serve(False)

    def simple(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self, body):
        self.fault = None         # one handler serves every request of a connection
        st = self.server.state
        path = self.path.split("?", 1)[0]
        faults, fpaths, until = st.active_faults()
        if "5xx" in faults and path != "/":
            self.fault = "5xx"
            wait = max(1, math.ceil(until - time.monotonic()))
            self.simple(503, "Servicio no disponible; intente más tarde.\n".encode(),
                        [("Retry-After", str(wait))])
            return
        if path == "/":
            with st.lock:
                names = sorted(st.files)
            self.simple(200, ("prepsim: instituto simulado (datos ficticios)\n" +
                              "".join(n + "\n" for n in names)).encode())
            return
        with st.lock:
            s = st.files.get(path)
            f = open(s.path, "rb") if s else None
        if not s:
            self.simple(404, b"No encontrado.\n")
            return
        try:
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            not_mod = False
            if inm is not None:
                not_mod = any(t.strip() in (s.etag, "*", "W/" + s.etag) for t in inm.split(","))
            elif ims:
                try:
                    t = email.utils.parsedate_to_datetime(ims).timestamp()
                    not_mod = int(s.mtime) <= t
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
            if not_mod:
                self.send_response(304)
                self.send_header("ETag", s.etag)
                self.send_header("Last-Modified", email.utils.formatdate(s.mtime, usegmt=True))
                self.end_headers()
                return
            faulted = body and path in fpaths
            if faulted and "stall" in faults:
                self.fault = "stall"
            elif faulted and "truncated" in faults:
                self.fault = "truncated"
            self.send_response(200)
            self.send_header("Content-Type", s.ctype)
            self.send_header("Content-Length", str(s.size))
            self.send_header("ETag", s.etag)
            self.send_header("Last-Modified", email.utils.formatdate(s.mtime, usegmt=True))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if not body:
                return
            if self.fault == "stall":
                self.wfile.write(f.read(min(64 * 1024, s.size // 4)))
                self.wfile.flush()
                while time.monotonic() < until and not st.stop.is_set():
                    st.stop.wait(0.5)
                self.close_connection = True
                return
            if self.fault == "truncated":
                self.wfile.write(f.read(s.size // 2))
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            while True:
                chunk = f.read(256 * 1024)
                if not chunk:
                    break
                self.wfile.write(chunk)
        finally:
            f.close()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx, state, quiet, family):
        self.address_family = family
        self.ctx = ctx
        self.state = state
        self.quiet = quiet
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's own thread.
        request.settimeout(60)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if not self.quiet:
                note("http %s TLS handshake failed: %s" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not self.quiet and not isinstance(e, (ConnectionError, ssl.SSLError, TimeoutError)):
            note("http %s error: %r" % (client_address[0], e))


def parse_loopback(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise Fail("--serve: %r is not HOST:PORT" % text)
    host = host.strip("[]")
    try:
        port = int(port)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise Fail("--serve: %r: the port is not a number from 0 to 65535" % text)
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise Fail("--serve: %r is not an IP address; prepsim serves on loopback only "
                   "(127.0.0.1 or [::1])" % host)
    if not ip.is_loopback:
        raise Fail("--serve: %s is not a loopback address; prepsim serves on loopback only "
                   "(127.0.0.1 or [::1])" % host)
    return str(ip), port, (socket.AF_INET6 if ip.version == 6 else socket.AF_INET)


KEEP_SERVED = 4   # timestamped packages kept listed in ultimo.txt


def run_serve(a):
    host, port, family = parse_loopback(a.serve)
    faults = parse_faults(a.faults, FAULTS_SERVE, "--serve")
    if not a.cert or not a.key:
        raise Fail("--serve needs --cert FILE and --key FILE (PEM) for HTTPS; "
                   "make a pair with certs/make-local-cert DIR")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(a.cert, a.key)
    except (OSError, ssl.SSLError) as e:
        raise Fail("--cert/--key: cannot load %s and %s: %s" % (a.cert, a.key, e))
    skey = a.sign_key or a.key
    scert = a.sign_cert or a.cert
    check_sign_args(a.sign, skey, scert)
    own_root = a.root is None
    root = a.root or tempfile.mkdtemp(prefix="prepsim-serve-")
    os.makedirs(root, exist_ok=True)
    state = ServeState()
    try:
        srv = Server((host, port), ctx, state, a.quiet, family)
    except OSError as e:
        raise Fail("--serve: cannot listen on %s: %s" % (a.serve, e))
    port = srv.server_address[1]
    hostport = "[%s]:%d" % (host, port) if family == socket.AF_INET6 else "%s:%d" % (host, port)
    base_url = "https://%s/" % hostport
    night = Night(a, root)
    night.stop = state.stop
    install_signals(night)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    th.start()
    prof = night.prof
    fixed = prof.fixed_url_name
    print("prepsim listen %s package=%s%s index=%sultimo.txt root=%s" % (
        base_url, base_url, fixed, base_url, root), flush=True)
    if a.ready:
        write_atomic(a.ready, ("%d\n" % port).encode())
    history = []      # timestamped names listed in ultimo.txt
    done = 0
    temps = []

    def publish_file(url_name, disk_name, src_tmp, data_sha=None):
        """Rename src_tmp to root/disk_name and point /url_name at it."""
        final = os.path.join(root, disk_name)
        if data_sha is None:
            with open(src_tmp, "rb") as f:
                data_sha = sha256_hex(f.read())
        size = os.path.getsize(src_tmp)
        with state.lock:
            os.replace(src_tmp, final)
            state.files["/" + url_name] = Served(final, ctype_of(url_name),
                                                 '"%s"' % data_sha[:32], time.time(), size)

    def link_tmp(src):
        t = os.path.join(root, ".link-%d-%s" % (os.getpid(), os.path.basename(src)))
        if os.path.exists(t):
            os.unlink(t)
        os.link(src, t)
        temps.append(t)
        return t

    try:
        due = time.monotonic()
        for k, n in night.cuts():
            cut = Cut(night.model, n, a.step)
            fl = cut_faults(a.seed, n, faults, k == 0)
            kind = night.kind_of(k)
            b = build_package(root, cut, night.size, kind)
            temps.append(b.path)
            ev = make_evidence(night, b, fl, skey, scert)
            temps.extend(ev.values())
            if "late" in fl:
                due += 2 * night.period
            night.wait_until(due)
            stamped = b.name if not prof.fixed_name else None
            with state.lock:
                state.faults = set()      # the previous cut's faults end with it
            # The package under its own name (when it has one) and under the
            # fixed name (hard links to one file), then the evidence beside
            # each, then the index.
            names = [fixed] + ([stamped] if stamped else [])
            pkg_paths = set()
            for i, nm in enumerate(names):
                src = b.path if i == len(names) - 1 else link_tmp(b.path)
                publish_file(nm, nm, src, b.sha)
                pkg_paths.add("/" + nm)
            with open(ev[".sha256"], "rb") as f:
                side_sha = f.read().decode().split()[0]
            for i, nm in enumerate(names):
                t = os.path.join(root, ".side-%d-%s" % (os.getpid(), nm))
                temps.append(t)
                write_atomic(t, sidecar_bytes(side_sha, nm))
                publish_file(nm + ".sha256", nm + ".sha256", t)
                for ext, p in ev.items():
                    if ext == ".sha256":
                        continue
                    src = p if i == len(names) - 1 else link_tmp(p)
                    publish_file(nm + ext, nm + ext, src)
            try:
                os.unlink(ev[".sha256"])
            except OSError:
                pass
            if stamped:
                history.append(stamped)
                for old in history[:-KEEP_SERVED]:
                    with state.lock:
                        for ext in ["", ".sha256"] + list(EVIDENCE_EXT.values()):
                            s = state.files.pop("/" + old + ext, None)
                            if s:
                                try:
                                    os.unlink(s.path)
                                except OSError:
                                    pass
                history = history[-KEEP_SERVED:]
            listed = history if stamped else [fixed]
            idx = ("# PREP simulacro (datos ficticios): paquetes publicados, el más "
                   "reciente al final\n" + "".join(x + "\n" for x in listed)).encode()
            t = os.path.join(root, ".ultimo-%d.txt" % os.getpid())
            write_atomic(t, idx)
            publish_file("ultimo.txt", "ultimo.txt", t)
            temps.clear()
            with state.lock:
                state.faults = set(f for f in fl if f in ("5xx", "truncated", "stall"))
                state.fault_paths = pkg_paths
                state.fault_until = time.monotonic() + night.period
            done += 1
            print(cut_line(cut, os.path.join(root, stamped or fixed), fl, kind, b.size,
                           " url=%s%s" % (base_url, fixed)), flush=True)
            due += night.period
        # Serve the last cut for one more period, so pollers get it.
        night.wait_until(due)
    except Stop:
        pass
    finally:
        state.stop.set()
        srv.shutdown()
        srv.server_close()
        for t in temps:
            try:
                os.unlink(t)
            except OSError:
                pass
        if own_root:
            for nm in os.listdir(root):
                try:
                    os.unlink(os.path.join(root, nm))
                except OSError:
                    pass
            try:
                os.rmdir(root)
            except OSError:
                pass
    print("prepsim stop cuts=%d reason=%s" % (done, "signal" if night.stop.is_set() and
                                               (a.cuts is None or done < a.cuts) else "done"),
          flush=True)
    return 0


def cmd_run(a):
    if bool(a.spool) == bool(a.serve):
        raise Fail("run needs exactly one of --spool DIR and --serve 127.0.0.1:PORT")
    if a.cuts is not None and a.cuts < 1:
        raise Fail("--cuts: must be 1 or more")
    if a.start_cut < 0:
        raise Fail("--start-cut: must be 0 or more")
    parse_duration(a.every)
    parse_size(a.size)
    if a.spool:
        return run_spool(a)
    return run_serve(a)


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="prepsim.py",
        description="A simulated electoral institute: makes PREP packages (fictitious "
                    "data) and runs an election night into a spool folder or over HTTPS.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--profile", choices=sorted(PROFILES), default="2024",
                       help="2024: .zip, UTF-8, commas, LF; 2018: .tar.gz, Latin-1, pipes, "
                            "CRLF; fixed: .zip always named PREP_AYUN_JAL.zip")
        p.add_argument("--size", default="small",
                       help="small (default), 10MB, 100MB or a number of bytes (KB, MB, "
                            "MiB... suffixes)")
        p.add_argument("--seed", default="prepsim", help="the night's seed (default prepsim)")
        p.add_argument("--step", type=int, default=15, metavar="MIN",
                       help="simulated minutes between cuts (default 15)")
        p.add_argument("--sign", choices=["none", "sha256", "ed25519", "cms"], default="sha256",
                       help="evidence beside the package; a .sha256 sidecar is always written")
        p.add_argument("--sign-key", metavar="K", help="signing key (PEM)")
        p.add_argument("--sign-cert", metavar="C", help="signing certificate for cms (PEM)")

    m = sub.add_parser("make", help="write one package for cut N and print its path")
    m.add_argument("out_dir", metavar="OUT_DIR")
    common(m)
    m.add_argument("--cut", type=int, default=1, help="cut number: 0 is 20:00, 1 is 20:15...")
    m.add_argument("--kind", choices=["full", "incremental"], default="full")
    m.add_argument("--key", metavar="K", help="signing key (PEM)")
    m.add_argument("--cert", metavar="C", help="signing certificate for cms (PEM)")

    r = sub.add_parser("run", help="run a night: a new cut every period")
    r.add_argument("--spool", metavar="DIR", help="write each cut into DIR")
    r.add_argument("--serve", metavar="HOST:PORT", help="serve the cuts over HTTPS (loopback)")
    common(r)
    r.add_argument("--every", default="15s", help="period between cuts (default 15s)")
    r.add_argument("--cuts", type=int, default=None, help="stop after N cuts (default: never)")
    r.add_argument("--start-cut", type=int, default=1, help="first cut number (default 1)")
    r.add_argument("--kind", choices=["full", "incremental"], default="full",
                   help="incremental: the first cut is full, later ones incremental")
    r.add_argument("--faults", default="",
                   help="comma list: late,truncated,badhash (spool) and 5xx,stall (serve)")
    r.add_argument("--key", metavar="K",
                   help="--serve: TLS key; --spool: signing key (PEM)")
    r.add_argument("--cert", metavar="C",
                   help="--serve: TLS certificate; --spool: signing certificate (PEM)")
    r.add_argument("--root", metavar="DIR",
                   help="--serve: keep the served files here (default: a temp folder, "
                        "removed at exit)")
    r.add_argument("--ready", metavar="FILE", help="--serve: write the port here once listening")
    r.add_argument("--quiet", action="store_true", help="--serve: no line per request")
    a = ap.parse_args(argv)
    if a.step < 1 or a.step > 24 * 60:
        ap.error("--step: 1 to 1440 minutes")
    try:
        if a.cmd == "make":
            return cmd_make(a)
        return cmd_run(a)
    except Fail as e:
        print("prepsim: %s" % e, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
