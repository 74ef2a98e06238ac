"""The embedded stack's SMTP catcher: every email the worker sends lands here, as a file.

``python -m workers.stack.smtp_catcher --port 8025 --dir .paysaga/mail``

Each message is stored as ``DIR/<arrival>-<n>.eml`` (written under a temporary name and
renamed, so a reader never sees half a message); nothing is relayed, and nothing of a
message (its recipients, its body) is printed. It listens on loopback only and takes no
login, so the worker talks to it without STARTTLS.
"""

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session

from workers.stack.ports import is_loopback


class MailDirectory:
    """The aiosmtpd handler: each message's bytes, as received, to one ``.eml`` file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.time_ns()}-{next(self._numbers)}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(content)
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    handler = MailDirectory(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="paysaga-dev"), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp catcher on {host}:{port}, messages in {directory}", flush=True)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.stack.smtp_catcher")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where each message is stored")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        sys.exit("the SMTP catcher takes mail from anyone who reaches it: loopback only")
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
