"""The gateway's SQLite tables, and the one step that upgrades a file of an older version.

Amounts are integer minor units; ``created`` is ISO 8601 UTC with milliseconds (``now_iso``),
so text order is time order. Every balance movement has a row in ``balance_transactions``,
written in the transaction that moves the money.
"""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    customer_id TEXT,
    payment_method TEXT NOT NULL,
    capture_requested INTEGER NOT NULL,
    amount_authorized INTEGER NOT NULL DEFAULT 0,
    amount_captured INTEGER NOT NULL DEFAULT 0,
    amount_refunded INTEGER NOT NULL DEFAULT 0,
    challenge TEXT,            -- 3-D Secure: NULL, pending, succeeded, failed
    next_action_url TEXT,
    capture_error TEXT,        -- JSON {code, message} of the last refused capture
    failure TEXT,              -- JSON {code, decline_code, message} of a declined charge
    created TEXT NOT NULL,
    fee INTEGER NOT NULL DEFAULT 0, -- what the gateway keeps of the captured amount
    customer TEXT,             -- the gateway's customer of a saved method, cus_…
    saved_method TEXT,         -- that saved method, pm_… (payment_method is its token)
    off_session INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS charges_by_reference ON charges (reference);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,       -- rf_<hex>
    charge_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,      -- succeeded, failed
    reference TEXT,            -- the merchant's refund id (NULL: /v1/charges/{id}/refund)
    failure_code TEXT,
    failure_message TEXT,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_by_reference ON refunds (reference);
CREATE INDEX IF NOT EXISTS refunds_by_charge ON refunds (charge_id);
CREATE TABLE IF NOT EXISTS transfers (
    id TEXT PRIMARY KEY,       -- tr_<hex>
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    destination TEXT NOT NULL, -- connected account, acct_…
    reference TEXT NOT NULL,
    amount_reversed INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,      -- paid, reversed
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_by_reference ON transfers (reference);
CREATE INDEX IF NOT EXISTS transfers_by_destination ON transfers (destination, currency);
CREATE TABLE IF NOT EXISTS transfer_reversals (
    id TEXT PRIMARY KEY,       -- trr_<hex>
    transfer_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reversals_by_transfer ON transfer_reversals (transfer_id);
CREATE TABLE IF NOT EXISTS payouts (
    id TEXT PRIMARY KEY,       -- pout_<hex>
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    destination TEXT NOT NULL,
    bank_account TEXT NOT NULL, -- a ba_ token, never an account number
    status TEXT NOT NULL,      -- paid, failed
    reference TEXT NOT NULL,
    failure_code TEXT,
    failure_message TEXT,
    created TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT 'standard'  -- standard, instant
);
CREATE INDEX IF NOT EXISTS payouts_by_reference ON payouts (reference);
CREATE INDEX IF NOT EXISTS payouts_by_destination ON payouts (destination, currency);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,       -- acct_<hex>
    reference TEXT NOT NULL,   -- the merchant's account id
    onboarded INTEGER NOT NULL DEFAULT 0,  -- 1: payouts (and charges) enabled
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_by_reference ON accounts (reference);
CREATE TABLE IF NOT EXISTS balance_transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the list's order and pagination cursor
    id TEXT NOT NULL UNIQUE,   -- txn_<hex>
    type TEXT NOT NULL,        -- charge, refund, transfer, transfer_reversal, payout
    amount INTEGER NOT NULL,   -- signed: + into the balance, - out of it
    fee INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    source TEXT NOT NULL,      -- the charge, refund, transfer, reversal or payout id
    reference TEXT,
    payment_id TEXT,
    account TEXT,              -- whose balance moved: NULL the platform's, else acct_…
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS balance_transactions_by_created ON balance_transactions (created);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,       -- cus_<hex>
    reference TEXT NOT NULL,   -- the merchant's customer id
    default_payment_method TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payment_methods (
    id TEXT PRIMARY KEY,       -- pm_<hex>, a token saved for a customer
    customer TEXT,             -- NULL once detached
    token TEXT NOT NULL,       -- the test token it was saved from (never a card number)
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,      -- attached, detached
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_methods_by_customer ON payment_methods (customer);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body TEXT NOT NULL,
    replays INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    PRIMARY KEY (method, path, key)
);
CREATE TABLE IF NOT EXISTS applications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    charge_id TEXT,
    status_code INTEGER NOT NULL,
    created TEXT NOT NULL
);
"""


_NEWER_CHARGE_COLUMNS = {
    "fee": "INTEGER NOT NULL DEFAULT 0",
    "customer": "TEXT",
    "saved_method": "TEXT",
    "off_session": "INTEGER NOT NULL DEFAULT 0",
}


def create_or_upgrade(conn: sqlite3.Connection) -> None:
    """Create missing tables; give tables of an older file their newer columns (charges'
    ``fee``, ``customer``, ``saved_method`` and ``off_session``, payouts' ``method``)."""
    conn.executescript(SCHEMA)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(charges)")}
    for name, definition in _NEWER_CHARGE_COLUMNS.items():
        if name not in columns:
            conn.execute(f"ALTER TABLE charges ADD COLUMN {name} {definition}")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(payouts)")}
    if "method" not in columns:
        conn.execute("ALTER TABLE payouts ADD COLUMN method TEXT NOT NULL DEFAULT 'standard'")
