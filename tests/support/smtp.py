"""Real SMTP servers for the email tests.

``SmtpCatcher``: the stack's catcher (``python -m workers.stack.smtp_catcher``) as a
subprocess, its messages read back from its directory; ``start_at(port)`` starts it on a
port chosen before (a server that comes up after the worker began retrying).
``RefusingSmtp``: an aiosmtpd server in a thread that refuses every recipient, for good
(550) or for now (450).
"""

import socket
import sys
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

from tests.support.server_process import ServerProcess
from workers.stack import free_port


class SmtpCatcher(ServerProcess):
    name = "SMTP catcher"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        super().__init__(self.directory.with_name(self.directory.name + ".log"))

    def command(self, port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "workers.stack.smtp_catcher"),
            *("--port", str(port), "--dir", str(self.directory)),
        ]

    def answers(self, base_url: str) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", urlsplit(base_url).port), timeout=1) as s:
                return s.recv(3) == b"220"
        except OSError:
            return False

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def start_at(self, port: int) -> None:
        if not self._launch(port):
            raise RuntimeError(f"{self.name} did not start on {port}:\n{self.log_tail()}")
        self.url = f"http://127.0.0.1:{port}"

    def messages(self) -> list[EmailMessage]:
        """Every message received, in arrival order."""
        if not self.directory.exists():
            return []
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(self.directory.glob("*.eml"))
        ]

    def raw_messages(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.directory.glob("*.eml"))]


class _RefuseEveryRecipient:
    def __init__(self, code: int) -> None:
        self.code = code

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        return f"{self.code} {self.code // 100}.1.1 <{address}>: mailbox unavailable"


class RefusingSmtp:
    """``with RefusingSmtp(code) as port:`` an SMTP server that answers ``code`` to every
    RCPT."""

    def __init__(self, code: int = 550) -> None:
        self.controller = Controller(
            _RefuseEveryRecipient(code), hostname="127.0.0.1", port=free_port()
        )

    def __enter__(self) -> int:
        self.controller.start()
        return self.controller.port

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()
