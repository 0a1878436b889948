#!/usr/bin/env python3
"""Parse wrk output and write the bench/run report (stdlib only).

  wrkparse.py parse FILE...
      print what was parsed from each wrk output, one JSON object a line

  wrkparse.py report --manifest M --meta META --out OUT [--sizes S]
      aggregate the runs listed in M, print the table to stdout and write the
      markdown section into OUT between <!-- bench:serve:begin --> and
      <!-- bench:serve:end --> (replaced if present, else appended)

Files written by bench/run (tab-separated, no header):
  manifest: row  conns  server  run  wrk_output_file  logged_lines  cpu_us  cpu_us_per_req
            (logged_lines: access-log lines the server wrote during the run;
             cpu_us: the server's CPU time, utime+stime of all its processes,
             from just before wrk started to 1.2 s after it ended, in
             microseconds; cpu_us_per_req: cpu_us / requests wrk completed;
             each "-" when not known; the last two may be missing)
  meta:     key  value
  sizes:    row  server  status  content_encoding  wire_bytes  content_type
"""

import argparse
import json
import os
import re
import statistics
import sys

BEGIN = "<!-- bench:serve:begin -->"
END = "<!-- bench:serve:end -->"
SERVERS = ("prepd", "nginx")

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
_SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def to_ms(text):
    """'535.31us' -> 0.53531, '2.02ms' -> 2.02, '1.05s' -> 1050.0"""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(text):
    """Return a dict with what one wrk --latency run printed.

    rps and p99_ms are None when wrk did not print them (it failed, or no
    request completed)."""
    r = {"rps": None, "p99_ms": None, "p50_ms": None, "requests": None,
         "connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"^\s+99(?:\.0+)?%\s+(\S+)", text, re.M)
    if m:
        r["p99_ms"] = to_ms(m.group(1))
    m = re.search(r"^\s+50(?:\.0+)?%\s+(\S+)", text, re.M)
    if m:
        r["p50_ms"] = to_ms(m.group(1))
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["connect"], r["read"], r["write"], r["timeout"] = map(int, m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"] + r["non2xx"]
    r["ok"] = r["rps"] is not None and r["p99_ms"] is not None
    return r


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                rows.append(line.split("\t"))
    return rows


def read_meta(path):
    meta = {}
    for fields in read_tsv(path):
        meta[fields[0]] = "\t".join(fields[1:])
    return meta


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_rps(x):
    return "n/a" if x is None else f"{x:,.0f}"


def fmt_ms(x):
    if x is None:
        return "n/a"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


def fmt_us(x):
    if x is None:
        return "n/a"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(x):
    if x is None:
        return "n/a"
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def aggregate(manifest_rows):
    """-> ordered list of (row, conns) and a dict keyed by (row, conns, server)."""
    order = []
    data = {}
    for fields in manifest_rows:
        row, conns, server, run, path = fields[:5]
        logged = fields[5] if len(fields) > 5 else "-"
        cpu_us = fields[6] if len(fields) > 6 else "-"
        cpu_req = fields[7] if len(fields) > 7 else "-"
        key = (row, int(conns))
        if key not in order:
            order.append(key)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                parsed = parse_wrk(f.read())
        except OSError:
            parsed = parse_wrk("")
        parsed["run"] = int(run)
        parsed["logged"] = None if logged in ("-", "") else int(logged)
        parsed["cpu_us"] = None if cpu_us in ("-", "") else int(cpu_us)
        parsed["cpu_us_per_req"] = None if cpu_req in ("-", "") else float(cpu_req)
        data.setdefault((row, int(conns), server), []).append(parsed)
    return order, data


def summarize(order, data):
    out = []
    for row, conns in order:
        s = {"row": row, "conns": conns}
        for srv in SERVERS:
            runs = data.get((row, conns, srv), [])
            s[srv + "_rps"] = median([r["rps"] for r in runs])
            s[srv + "_p99"] = median([r["p99_ms"] for r in runs])
            s[srv + "_cpu"] = median([r["cpu_us_per_req"] for r in runs])
            s[srv + "_errors"] = sum(r["errors"] for r in runs)
            s[srv + "_failed"] = sum(1 for r in runs if not r["ok"])
            s[srv + "_runs"] = len(runs)
        s["ratio"] = ratio(s["prepd_rps"], s["nginx_rps"])
        s["p99_ratio"] = ratio(s["prepd_p99"], s["nginx_p99"])
        s["cpu_ratio"] = ratio(s["nginx_cpu"], s["prepd_cpu"])
        s["errors"] = s["prepd_errors"] + s["nginx_errors"]
        out.append(s)
    return out


TABLE_HEAD = ("| file | conns | prepd req/s | nginx req/s | ratio | prepd p99 ms "
              "| nginx p99 ms | p99 ratio | prepd CPU µs/req | nginx CPU µs/req | CPU ratio | errors |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")


def errors_cell(s):
    cell = str(s["errors"])
    failed = s["prepd_failed"] + s["nginx_failed"]
    if failed:
        cell += f" ({failed} run{'s' if failed > 1 else ''} without result)"
    return cell


def table(summary):
    lines = [TABLE_HEAD]
    for s in summary:
        lines.append(
            f"| {s['row']} | {s['conns']} | {fmt_rps(s['prepd_rps'])} | {fmt_rps(s['nginx_rps'])} "
            f"| {fmt_ratio(s['ratio'])} | {fmt_ms(s['prepd_p99'])} | {fmt_ms(s['nginx_p99'])} "
            f"| {fmt_ratio(s['p99_ratio'])} | {fmt_us(s['prepd_cpu'])} | {fmt_us(s['nginx_cpu'])} "
            f"| {fmt_ratio(s['cpu_ratio'])} | {errors_cell(s)} |\n")
    return "".join(lines)


def error_details(order, data):
    lines = []
    for row, conns in order:
        for srv in SERVERS:
            runs = data.get((row, conns, srv), [])
            tot = {k: sum(r[k] for r in runs) for k in ("connect", "read", "write", "timeout", "non2xx")}
            failed = [r["run"] for r in runs if not r["ok"]]
            if any(tot.values()) or failed:
                parts = [f"{k} {v}" for k, v in tot.items() if v]
                if failed:
                    parts.append("no result from wrk in run " + ", ".join(map(str, failed)))
                lines.append(f"- {srv}, {row}, {conns} conns: " + ", ".join(parts) + "\n")
    return "".join(lines)


def per_run_table(order, data):
    lines = ["| file | conns | server | run | req/s | p50 ms | p99 ms | requests | logged "
             "| CPU ms | CPU µs/req | errors |\n",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"]
    for row, conns in order:
        runs = []
        for srv in SERVERS:
            runs += [(r["run"], srv, r) for r in data.get((row, conns, srv), [])]
        for run, srv, r in sorted(runs, key=lambda x: (x[0], SERVERS.index(x[1]))):
            lines.append(
                f"| {row} | {conns} | {srv} | {run} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50_ms'])} "
                f"| {fmt_ms(r['p99_ms'])} | {r['requests'] if r['requests'] is not None else 'n/a'} "
                f"| {r['logged'] if r['logged'] is not None else '-'} "
                f"| {'n/a' if r['cpu_us'] is None else format(r['cpu_us'] / 1000, ',.0f')} "
                f"| {fmt_us(r['cpu_us_per_req'])} | {r['errors']} |\n")
    return "".join(lines)


def log_check(data, meta):
    """Access-log lines written vs requests wrk completed, per server."""
    lines = []
    for srv in SERVERS:
        runs = [r for k, v in data.items() if k[2] == srv for r in v]
        logged = [r["logged"] for r in runs if r["logged"] is not None]
        if not runs or len(logged) != len(runs):
            continue
        done = sum(r["requests"] or 0 for r in runs)
        tail = meta.get("log_tail_" + srv, "0")
        total = sum(logged) + (int(tail) if tail.isdigit() else 0)
        lines.append(f"- {srv}: {total:,} access-log lines for {done:,} requests completed by wrk"
                     + (f" ({100.0 * total / done:.2f}%)" if done else "") + "\n")
    if lines:
        lines.insert(0, "Access logs (both servers log every request; a run's lines are counted "
                        "1.2 s after it ends, then the log is emptied, and what is written after "
                        "the last run is counted when the server has stopped; a server may log a "
                        "few more requests than wrk completed, those in flight when wrk stopped):\n\n")
    return "".join(lines)


def sizes_table(path):
    if not path or not os.path.exists(path):
        return ""
    rows = read_tsv(path)
    if not rows:
        return ""
    by_row = {}
    order = []
    for f in rows:
        row, srv, status, enc, wire, ctype = (f + [""] * 6)[:6]
        if row not in by_row:
            order.append(row)
        by_row.setdefault(row, {})[srv] = (status, enc or "identity", wire, ctype)
    out = ["Responses as curl saw them before the runs (bytes on the wire, "
           "Content-Encoding, Content-Type):\n\n",
           "| file | prepd | nginx |\n|---|---|---|\n"]
    for row in order:
        cells = []
        for srv in SERVERS:
            v = by_row[row].get(srv)
            cells.append("-" if v is None else f"{v[0]}, {int(v[2]):,} B, {v[1]}, `{v[3]}`")
        out.append(f"| {row} | {cells[0]} | {cells[1]} |\n")
    return "".join(out)


def tick_ms(meta):
    t = meta.get("clk_tck", "")
    return f"{1000 / int(t):g} ms" if t.isdigit() and int(t) > 0 else "1/CLK_TCK s"


def section(meta, summary, order, data, sizes_path):
    m = lambda k: meta.get(k, "unknown")  # noqa: E731
    out = [BEGIN, "\n",
           "## Serving: prepd vs nginx\n\n",
           f"Measured {m('date')} with `bench/run` on a synthetic site (`bench/mksite.py`): "
           f"{m('duration')} s per wrk run, {m('runs')} runs per server and row, "
           "prepd and nginx alternating (prepd, nginx, prepd, nginx, ...), "
           "both on loopback on the same machine as wrk. "
           "Each cell is the median over the runs; `ratio` is prepd req/s ÷ nginx req/s "
           "(above 1: prepd serves more), `p99 ratio` is prepd p99 ÷ nginx p99 "
           "(below 1: prepd's tail latency is lower); `CPU µs/req` is the server's CPU time "
           "(user + system, all threads; for nginx the master and its workers) from just before "
           "wrk starts to 1.2 s after it ends, divided by the requests wrk completed, "
           f"read from /proc/PID/stat in clock ticks of {tick_ms(meta)}; "
           "it corrects req/s for how much of the CPUs, shared with wrk, each server got; "
           "`CPU ratio` is nginx ÷ prepd (above 1: prepd uses less CPU per request); "
           "`errors` adds up wrk's socket errors "
           "(connect, read, write, timeout) and non-2xx/3xx responses of both servers over all runs.\n\n",
           f"- machine: {m('nproc')} CPUs ({m('cpu')}), kernel {m('kernel')}\n",
           f"- nginx: {m('nginx')}\n",
           f"- wrk: {m('wrk')}\n",
           f"- prepd: {m('prepd')}\n\n",
           "Commands:\n\n```\n",
           f"{m('cmd_prepd')}\n"
           + (f"{m('cmd_prepd_big')}   # the {m('big_conns')}-connection row: HTTP listener only\n"
              if meta.get('big_conns') else "")
           + f"{m('cmd_nginx')}\n{m('cmd_wrk')}\n",
           "```\n\n",
           table(summary), "\n"]
    det = error_details(order, data)
    if det:
        out += ["Errors:\n\n", det, "\n"]
    warns = [w for w in meta.get("warnings", "").split("|") if w.strip()]
    if warns:
        out += ["Warnings from the run:\n\n"] + [f"- {md_text(w)}\n" for w in warns] + ["\n"]
    sz = sizes_table(sizes_path)
    if sz:
        out += [sz, "\n"]
    lc = log_check(data, meta)
    if lc:
        out += [lc, "\n"]
    out += ["<details><summary>Every run</summary>\n\n", per_run_table(order, data),
            "\n</details>\n", END, "\n"]
    return "".join(out)


def md_text(s):
    """Free text (log lines, warnings) safe inside markdown."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def write_section(path, text):
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    b, e = old.find(BEGIN), old.find(END)
    if b != -1 and e != -1 and e > b:
        e += len(END)
        if old[e:e + 1] == "\n":
            e += 1
        new = old[:b] + text + old[e:]
    elif old:
        new = old + ("" if old.endswith("\n") else "\n") + "\n" + text
    else:
        new = text
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("files", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("--manifest", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sizes")
    a = ap.parse_args(argv[1:])

    if a.cmd == "parse":
        for path in a.files:
            with open(path, encoding="utf-8", errors="replace") as f:
                r = parse_wrk(f.read())
            r["file"] = path
            print(json.dumps(r))
        return 0

    meta = read_meta(a.meta)
    order, data = aggregate(read_tsv(a.manifest))
    summary = summarize(order, data)
    sys.stdout.write(table(summary))
    det = error_details(order, data)
    if det:
        sys.stdout.write("\nErrors:\n" + det)
    write_section(a.out, section(meta, summary, order, data, a.sizes))
    print(f"\nwrote the bench:serve section of {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
