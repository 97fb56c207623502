#!/usr/bin/env python3
"""Instruction counts per request, by endpoint, with valgrind's callgrind (repeatable whatever
else the machine is doing, unlike wall-clock numbers on two shared cores).

Starts the release server under `valgrind --tool=callgrind --instr-atstart=no` (SQLite in a scratch
directory), switches instrumentation on only around each batch of identical requests sent from
this process over one keep-alive connection, and dumps one profile per batch. Prints instructions
per request for each batch and leaves the profiles (callgrind.out.*) in the output directory for
`callgrind_annotate --inclusive=yes FILE`.

Usage: bench/callgrind_profile.py [OUTDIR]
Environment: TESSERA_BIN; N (requests per batch, default 500); PROFILE_DATABASE_URL (an empty
PostgreSQL database to use instead of SQLite); BENCH_TMPDIR.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N = int(os.environ.get("N", "500"))
EMAIL = "bench.user@example.com"
PASSWORD = "Tessera bench: quartz-lantern-87-orbit!"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary = os.environ.get("TESSERA_BIN", os.path.join(ROOT, "target", "release", "tessera"))
    outdir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "callgrind-out")
    os.makedirs(outdir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="cg-", dir=os.environ.get("BENCH_TMPDIR"))
    port = free_port()
    env = dict(os.environ, TESSERA_ADDR=f"127.0.0.1:{port}", TESSERA_DATA_DIR=os.path.join(scratch, "data"),
               TESSERA_RATE_LIMIT_PER_IP="0")
    env.pop("DATABASE_URL", None)
    if os.environ.get("PROFILE_DATABASE_URL"):  # an empty PostgreSQL database instead of SQLite
        env["DATABASE_URL"] = os.environ["PROFILE_DATABASE_URL"]
    log = open(os.path.join(outdir, "server.log"), "wb")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={outdir}/callgrind.out.%p", binary, "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        conn = connect(port, server)
        cookie, refresh = setup(conn)

        def get(path, headers):
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)

        def do_refresh():
            nonlocal refresh
            conn.request("POST", "/api/auth/refresh", body=json.dumps({"refresh_token": refresh}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, body
            refresh = json.loads(body)["refresh_token"]

        def login():
            conn.request("POST", "/api/auth/login", body=json.dumps({"email": EMAIL, "password": PASSWORD}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200

        batches = [
            ("health", N, lambda: get("/api/health", {})),
            ("me", N, lambda: get("/api/me", {"Cookie": cookie})),
            ("refresh", N, do_refresh),
            ("login", max(N // 50, 3), login),
        ]
        results = []
        for name, count, send in batches:
            for _ in range(5):  # warm the connection and the code path
                send()
            control(server.pid, "-z")  # zero counters
            control(server.pid, "-i", "on")
            for _ in range(count):
                send()
            control(server.pid, "-i", "off")
            control(server.pid, "-d", name)
            results.append((name, count))
        time.sleep(0.5)
        # Dumps are numbered in order: callgrind.out.<pid>.1, .2, ...
        for i, (name, count) in enumerate(results, start=1):
            path = os.path.join(outdir, f"callgrind.out.{server.pid}.{i}")
            total = summary_of(path)
            os.replace(path, os.path.join(outdir, f"callgrind.{name}.out"))
            print(f"{name}: {total / count:,.0f} instructions per request ({count} requests)", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(scratch, ignore_errors=True)


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def summary_of(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return None


def connect(port, server):
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit("server exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/api/ready")
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                return conn
        except OSError:
            time.sleep(0.2)
    sys.exit("server not ready")


def setup(conn):
    def post(path, body):
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        assert r.status in (200, 201), (path, r.status, data)
        return r, data

    r, _ = post("/api/auth/register", {"email": EMAIL, "password": PASSWORD, "name": "Bench User"})
    cookie = next(c.split(";", 1)[0] for c in r.msg.get_all("Set-Cookie") if c.startswith("__Host-access="))
    _, data = post("/api/auth/login", {"email": EMAIL, "password": PASSWORD, "token_delivery": "body"})
    return cookie, json.loads(data)["refresh_token"]


if __name__ == "__main__":
    main()
