"""Available balances, derived from what moved (never stored), per currency:

* the platform's: Σ (amount - fee) of its balance transactions
  = captured - fees - refunded - transferred + reversed;
* a connected account's (``acct_…``): transferred - reversed - paid out (failed payouts
  excluded).

Transfers are refused against the first, payouts against the second (402
``balance_insufficient``). A refund is not checked (the platform's balance may go negative, as
on a real processor), nor is a transfer reversal against the account's balance.
"""

from typing import Any

from workers.sandbox_gateway.errors import balance_insufficient
from workers.sandbox_gateway.store import Tx

_PLATFORM = (
    "SELECT currency, SUM(amount - fee) FROM balance_transactions "
    "WHERE account IS NULL GROUP BY currency ORDER BY currency"
)
_ACCOUNT = (
    "SELECT currency, SUM(amount) FROM ("
    " SELECT currency, amount - amount_reversed AS amount FROM transfers WHERE destination = ?"
    " UNION ALL"
    " SELECT currency, -amount FROM payouts WHERE destination = ? AND status = 'paid'"
    ") GROUP BY currency ORDER BY currency"
)


def available(tx: Tx, account: str | None = None) -> dict[str, int]:
    """Currency → available amount of the platform (``account`` None) or of ``account``."""
    if account is None:
        return dict(tx.rows(_PLATFORM))
    return dict(tx.rows(_ACCOUNT, (account, account)))


def require(tx: Tx, amount: int, currency: str, account: str | None = None) -> None:
    """402 ``balance_insufficient`` unless the balance holds ``amount`` of ``currency``."""
    holds = available(tx, account).get(currency, 0)
    if holds < amount:
        whose = f"account {account}" if account else "the platform"
        raise balance_insufficient(
            f"{whose} has {holds} {currency} available, less than the {amount} requested"
        )


def render(tx: Tx, account: str | None = None) -> dict[str, Any]:
    return {
        "object": "balance",
        "account": account,
        "available": [
            {"currency": currency, "amount": amount}
            for currency, amount in available(tx, account).items()
        ],
    }
