#!/usr/bin/env python3
"""Enumeration-safe timing of POST /api/auth/password/forgot: known vs unknown addresses.

Starts the `tessera` binary (TESSERA_BIN, default target/release/tessera) on loopback with a fresh
SQLite database and the outbox transport, registers ACCOUNTS accounts, then sends ROUNDS pairs of
requests, each pair one known and one unknown address in random order, over one keep-alive
connection, and prints the median and p90 latency of each kind and their ratio (known/unknown).
A measurement, not a test: nothing here asserts a time. Record the output in docs/benchmarks.md.

Environment: TESSERA_BIN, ACCOUNTS (default 50), ROUNDS (default 2000).
"""
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(conn, path, body):
    data = json.dumps(body)
    start = time.perf_counter()
    conn.request("POST", path, body=data, headers={"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - start


def main() -> int:
    binary = os.environ.get("TESSERA_BIN", "target/release/tessera")
    accounts = int(os.environ.get("ACCOUNTS", "50"))
    rounds = int(os.environ.get("ROUNDS", "2000"))
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ)
        env.update(
            TESSERA_ADDR=f"127.0.0.1:{port}",
            TESSERA_DATA_DIR=data,
            TESSERA_RATE_LIMIT_PER_IP="0",
            TESSERA_LOG_FORMAT="json",
            RUST_LOG="error",
        )
        server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        print("server did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.1)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            known = [f"user{i}@example.com" for i in range(accounts)]
            for email in known:
                status, _ = post(conn, "/api/auth/register",
                                 {"email": email, "password": "violet-Anvil-47-quietly-Orbit", "name": "Bench"})
                assert status == 201, status
            # Warm up both paths.
            for i in range(100):
                post(conn, "/api/auth/password/forgot", {"email": known[i % accounts]})
                post(conn, "/api/auth/password/forgot", {"email": f"warm{i}@nowhere.example"})
            times = {"known": [], "unknown": []}
            for i in range(rounds):
                pair = [("known", known[i % accounts]), ("unknown", f"nobody{i}@nowhere.example")]
                random.shuffle(pair)
                for kind, email in pair:
                    status, took = post(conn, "/api/auth/password/forgot", {"email": email})
                    assert status == 202, status
                    times[kind].append(took)
            summary = {}
            for kind, values in times.items():
                values.sort()
                summary[kind] = (statistics.median(values), values[int(len(values) * 0.9)])
            (k_med, k_p90), (u_med, u_p90) = summary["known"], summary["unknown"]
            print(f"forgot, {rounds} pairs, {accounts} accounts")
            print(f"  known   median {k_med * 1e6:8.1f} us   p90 {k_p90 * 1e6:8.1f} us")
            print(f"  unknown median {u_med * 1e6:8.1f} us   p90 {u_p90 * 1e6:8.1f} us")
            print(f"  ratio known/unknown: median {k_med / u_med:.3f}, p90 {k_p90 / u_p90:.3f}")
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
