"""Print .env.example with every empty secret filled in with a fresh random value.

    python3 deploy/generate_env.py > .env

Standard library only, Python 3.8+: it runs on a host that has nothing of paysaga
installed. Values already set in .env.example are kept; commented-out lines stay comments.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from datetime import datetime
from datetime import timezone
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def fresh_values(key_id: str) -> dict[str, str]:
    payload_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        # Single quotes: the JSON is taken literally by Compose's .env parser.
        "PAYSAGA_PAYLOAD_KEYS": "'" + json.dumps({key_id: payload_key}) + "'",
        "PAYSAGA_PAYLOAD_KEY_ID": key_id,
    }


def filled(example: str, key_id: str) -> str:
    values = fresh_values(key_id)
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and not value.strip():
            # URL-safe: a password becomes part of PAYSAGA_DATABASE_URL unencoded.
            line = f"{name}={values.get(name) or secrets.token_urlsafe(32)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> int:
    # timezone.utc, not datetime.UTC: the host's python3 may be older than 3.11.
    key_id = f"k-{datetime.now(timezone.utc):%Y%m%d}"  # noqa: UP017
    sys.stdout.write(filled(EXAMPLE.read_text(), key_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
