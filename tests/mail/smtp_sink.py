#!/usr/bin/env python3
"""A real SMTP server for Tessera's mail tests (aiosmtpd), and a parser for what it received.

    smtp_sink.py serve --port PORT --dir DIR [--tls-cert CERT --tls-key KEY --mode starttls|implicit]
        Listens on 127.0.0.1:PORT until SIGTERM. Every message accepted is written atomically as
        DIR/<n>.eml (the raw bytes) and DIR/<n>.json (envelope and parsed view, see describe()).
        Prints "ready" on stdout once it accepts connections. With a certificate, "starttls"
        requires STARTTLS before MAIL FROM, "implicit" speaks TLS from the first byte.
    smtp_sink.py parse FILE
        Prints the parsed view of an .eml file as JSON.

Plain SMTP without a certificate. Needs Python 3 and aiosmtpd (Debian: python3-aiosmtpd).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import sys


def describe(raw: bytes) -> dict:
    """Headers that matter and the decoded text and HTML parts of a message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        parts.setdefault(part.get_content_type(), []).append(part.get_content())
    return {
        "from": str(message["From"] or ""),
        "to": str(message["To"] or ""),
        "subject": str(message["Subject"] or ""),
        "date": str(message["Date"] or ""),
        "message_id": str(message["Message-ID"] or ""),
        "content_type": message.get_content_type(),
        "text": parts.get("text/plain", []),
        "html": parts.get("text/html", []),
        "defects": [type(d).__name__ for d in message.defects],
    }


class Sink:
    def __init__(self, directory: str):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        record = describe(raw)
        record["mail_from"] = envelope.mail_from
        record["rcpt_tos"] = list(envelope.rcpt_tos)
        record["helo"] = session.host_name
        record["tls"] = server.transport.get_extra_info("ssl_object") is not None
        base = os.path.join(self.directory, f"{self.count:06d}")
        for suffix, data in ((".eml", raw), (".json", json.dumps(record).encode())):
            tmp = base + suffix + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, base + suffix)
        return "250 OK"


async def serve(args) -> None:
    from aiosmtpd.controller import Controller

    os.makedirs(args.dir, exist_ok=True)
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    kwargs = {}
    if context is not None and args.mode == "starttls":
        kwargs = {"tls_context": context, "require_starttls": True}
    elif context is not None and args.mode == "implicit":
        kwargs = {"ssl_context": context}
    # A generous ready timeout: test machines can be busy.
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, ready_timeout=30, **kwargs)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    controller.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--mode", choices=["starttls", "implicit"], default="starttls")
    p = sub.add_parser("parse")
    p.add_argument("file")
    args = parser.parse_args()
    if args.command == "parse":
        with open(args.file, "rb") as f:
            print(json.dumps(describe(f.read())))
        return 0
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
