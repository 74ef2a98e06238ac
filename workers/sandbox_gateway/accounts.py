"""Connected accounts (``acct_…``), Connect-style: made not yet onboarded (no charges, no
payouts, requirements due), onboarded when the account holder finishes the onboarding page
(``POST /v1/accounts/{id}/onboarding/complete``, what the page's button does and what a test
calls). A payout from an account that is not onboarded is refused (``payouts_not_allowed``).

Accounts the gateway never made (destinations named before it made accounts) are paid out as
they always were: the gateway cannot tell them from an account of another platform's.
"""

import logging
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from html import escape
from typing import Any

from workers.sandbox_gateway.bodies import CreateAccount
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Account
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

# What the onboarding page collects, as Stripe names it.
REQUIREMENTS = ["external_account", "tos_acceptance.date", "tos_acceptance.ip"]
LINK_LIFETIME = timedelta(minutes=5)


def render(account: Account) -> dict[str, Any]:
    due = [] if account.onboarded else REQUIREMENTS
    return {
        "id": account.id,
        "object": "account",
        "reference": account.reference,
        "charges_enabled": account.onboarded,
        "payouts_enabled": account.onboarded,
        "requirements": {
            "currently_due": due,
            "disabled_reason": None if account.onboarded else "requirements.past_due",
        },
        "created": account.created,
    }


def create(tx: Tx, body: CreateAccount) -> Answer:
    account = Account(id=new_id("acct"), reference=body.reference)
    tx.insert(account)
    log.info("account %s for %s", account.id, account.reference)
    return Answer(200, render(account), None)


def get(tx: Tx, account_id: str) -> dict[str, Any]:
    return render(_found(tx, account_id))


def complete_onboarding(tx: Tx, account_id: str) -> dict[str, Any]:
    account = _found(tx, account_id)
    account.onboarded = True
    tx.update(account)
    log.info("account %s onboarded", account.id)
    return render(account)


def link(tx: Tx, account_id: str, public_url: str) -> dict[str, Any]:
    _found(tx, account_id)
    expires = datetime.now(UTC) + LINK_LIFETIME
    return {
        "object": "account_link",
        "url": f"{public_url}/v1/accounts/{account_id}/onboarding",
        "expires_at": expires.isoformat(),
    }


def require_payouts(tx: Tx, account_id: str) -> None:
    """400 ``payouts_not_allowed`` when the gateway made the account and it has not
    onboarded."""
    account = tx.get(Account, account_id)
    if account is not None and not account.onboarded:
        raise invalid_request(
            "payouts_not_allowed",
            f"Payouts have been disabled on the connected account {account_id}: it has "
            "requirements due.",
        )


def page(account_id: str) -> str:
    return _PAGE.format(account_id=escape(account_id))


def _found(tx: Tx, account_id: str) -> Account:
    account = tx.get(Account, account_id)
    if account is None:
        raise resource_missing(account_id, "account")
    return account


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Onboarding — sandbox gateway</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto;text-align:center}}
button{{font-size:1.1rem;margin:.5rem;padding:.6rem 1.4rem}}</style></head>
<body>
<h1>Set up payouts</h1>
<p>Connected account <code>{account_id}</code></p>
<p id="status"></p>
<button id="complete" onclick="complete()">Finish onboarding</button>
<script>
async function complete() {{
  const r = await fetch("onboarding/complete", {{method: "POST"}});
  document.getElementById("status").textContent =
    r.ok ? "Done. You can return to the platform." : "Error " + r.status;
}}
</script>
</body></html>
"""
