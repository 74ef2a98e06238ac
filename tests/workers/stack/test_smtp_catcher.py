"""The stack's SMTP catcher as a process: each message lands whole as one .eml file, and
nothing of it is printed."""

import subprocess
import sys
from email import message_from_bytes
from email import policy
from email.message import EmailMessage

import aiosmtplib

from tests.support.smtp import SmtpCatcher


async def test_each_message_is_one_file_and_nothing_of_it_is_printed(tmp_path):
    with SmtpCatcher(tmp_path / "mail") as _:
        catcher_port = int(_.rsplit(":", 1)[1])
        for n in (1, 2):
            message = EmailMessage()
            message["From"] = "billing@shop.example"
            message["To"] = "ada@customer.example"
            message["Subject"] = f"Receipt {n}"
            message.set_content(f"Thank you, order {n}")
            await aiosmtplib.send(message, hostname="127.0.0.1", port=catcher_port)
    files = sorted((tmp_path / "mail").iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]
    subjects = [message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"] for p in files]
    assert subjects == ["Receipt 1", "Receipt 2"]
    printed = (tmp_path / "mail.log").read_text()
    assert "ada@customer.example" not in printed and "Thank you" not in printed
    assert "messages in" in printed


def test_it_refuses_an_address_other_than_loopback(tmp_path):
    catcher = [sys.executable, "-m", "workers.stack.smtp_catcher"]
    done = subprocess.run(
        [*catcher, "--host", "0.0.0.0", "--port", "1", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "loopback only" in done.stderr
