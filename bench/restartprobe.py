#!/usr/bin/env python3
"""A restart as a CDN sees it (bench/ingest-large).

usage: restartprobe.py PORT LABEL LOG HOLD ROUNDS PREPD ARGS...

Starts prepd (PREPD ARGS..., its output to LOG), waits until it serves the
cut LABEL, then restarts it ROUNDS times: SIGTERM, wait for the exit, exec
again. From each SIGTERM on, one thread calls connect() in a loop and
another sends GET /assets/json/nacional.json on a new connection each time,
until a response of the new process names LABEL. HOLD=1 holds the
listening socket in this process and passes it to every prepd as
LISTEN_FDS (what systemd does with prepd.socket); HOLD=0 lets prepd open
its own.

Prints one line a round:
  ROUND STOP_MS GAP_MS REFUSED CONNECTED OTHER REQ_OK REQ_FAILED PID
STOP_MS: SIGTERM to the exit; GAP_MS: SIGTERM to the first response of the
new process naming LABEL; REFUSED: connect() refused (ECONNREFUSED);
CONNECTED: connect() the kernel completed; OTHER: other connect errors;
REQ_OK / REQ_FAILED: the poller's requests answered 200 naming LABEL /
failed (reset, refused, closed, or any other answer) over the round. Talks only to 127.0.0.1; every wait is
bounded (120 s a round)."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

port, label, log, hold, rounds = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                  sys.argv[4] == "1", int(sys.argv[5]))
cmd = sys.argv[6:]
held = None
if hold:
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", port))
    held.listen(4096)


def spawn():
    out = open(log, "a")
    if not held:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    fd = held.fileno()
    # systemd's protocol: the socket at fd 3, LISTEN_FDS=1, LISTEN_PID the
    # pid that reads them (the shell's, which exec keeps)
    return subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh"] + cmd,
                            stdout=out, stderr=subprocess.STDOUT, pass_fds=(3,),
                            preexec_fn=lambda: os.dup2(fd, 3))


def serves(timeout=30):
    """True if a response names LABEL; raises OSError on a failed request."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/assets/json/nacional.json")
        r = c.getresponse()
        r.read()
        return r.status == 200 and "label=" + label in (r.getheader("X-PREP-Cut") or "")
    finally:
        c.close()


def wait_serving(deadline):
    while time.monotonic() < deadline:
        try:
            if serves():
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.002)
    return False


p = spawn()
if not wait_serving(time.monotonic() + 120):
    p.kill()
    sys.exit("restartprobe: prepd did not serve " + label + " within 120 s")

for rnd in range(1, rounds + 1):
    count = {"refused": 0, "ok": 0, "other": 0, "req_ok": 0, "req_failed": 0}
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
                count["ok"] += 1
            except ConnectionRefusedError:
                count["refused"] += 1
            except OSError:
                count["other"] += 1
            finally:
                s.close()

    new = {"at": None}
    why = {}
    gap = {"ms": None}

    def poller():
        while not stop.is_set():
            sent = time.monotonic()
            try:
                named = serves(timeout=10)
                count["req_ok" if named else "req_failed"] += 1
                # only a request sent after the new exec: the old process
                # has exited by then
                if named and new["at"] is not None and sent > new["at"]:
                    gap["ms"] = (time.monotonic() - t0) * 1000
                    stop.set()
            except (OSError, http.client.HTTPException) as e:
                count["req_failed"] += 1
                kind = type(e).__name__ + (" (old process)" if new["at"] is None else "")
                why[kind] = why.get(kind, 0) + 1
                time.sleep(0.001)

    t0 = time.monotonic()
    threads = [threading.Thread(target=hammer), threading.Thread(target=poller)]
    p.send_signal(signal.SIGTERM)
    for t in threads:
        t.start()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    stop_ms = (time.monotonic() - t0) * 1000
    # the poller's responses from here on come from the new process: the
    # old one has exited
    new["at"] = time.monotonic()
    p = spawn()
    stop.wait(120)
    stop.set()
    for t in threads:
        t.join()
    g = "-" if gap["ms"] is None else round(gap["ms"], 1)
    print(rnd, round(stop_ms, 1), g, count["refused"], count["ok"], count["other"],
          count["req_ok"], count["req_failed"], p.pid, flush=True)
    if why:
        print(f"restartprobe: round {rnd}: failed requests: {why}", file=sys.stderr)

p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
