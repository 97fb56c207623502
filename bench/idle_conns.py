#!/usr/bin/env python3
"""Opens N keep-alive connections to a Tessera server, sends one GET /api/health on each, reads
the answer and then holds every connection open and idle.

Prints `READY <open>` once all are established, then waits until stdin closes (or SIGTERM),
prints `STILL_OPEN <n>` (connections the server has not closed meanwhile) and exits.
Usage: idle_conns.py HOST PORT N
"""
import asyncio
import resource
import sys

REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


async def open_one(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(REQUEST)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    return reader, writer


async def main(host, port, count):
    conns = []
    batch = 250  # stay well inside the listen backlog
    for start in range(0, count, batch):
        conns += await asyncio.gather(*(open_one(host, port) for _ in range(start, min(count, start + batch))))
    print(f"READY {len(conns)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    still_open = sum(1 for reader, _ in conns if not reader.at_eof())
    print(f"STILL_OPEN {still_open}", flush=True)
    for _, writer in conns:
        writer.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = int(sys.argv[3]) + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
