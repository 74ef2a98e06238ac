"""What ``paysaga dev`` (``make run``) prints once the stack is ready: where everything is,
the keys, and a payment to try."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from workers.stack.dev_tenant import DEV_TENANT

if TYPE_CHECKING:
    from workers.stack.embedded import EmbeddedStack


def example_curl(stack: EmbeddedStack) -> str:
    body = (
        '{"amount": 1999, "currency": "USD", "customer_id": "cus_123", '
        '"payment_method": "tok_visa"}'
    )
    return (
        f"curl -s -X POST {stack.api_url}/v1/payments -H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer {stack.api_key or 'sk_…'}' "
        f"-H 'Idempotency-Key: order-1001' -d '{body}'"
    )


def summary_rows(stack: EmbeddedStack) -> list[tuple[str, str]]:
    auth = (
        "[bold red]OFF[/] (--no-auth): every request acts as " + DEV_TENANT
        if stack.no_auth
        else f"tenant {DEV_TENANT}, with the key printed below"
    )
    return [
        ("API docs", f"{stack.api_url}/docs"),
        ("API auth", auth),
        ("Temporal UI", stack.ui_url),
        (
            "Codec endpoint",
            f"{stack.api_url}/codec (Authorization: Bearer <codec token>); the UI's: "
            + (f"{stack.codec_url} (loopback proxy)" if stack.ui_decodes else "none, ciphertext"),
        ),
        ("API metrics", f"{stack.api_url}/metrics"),
        ("Worker metrics", stack.worker_metrics_url),
        ("Temporal gRPC", stack.temporal_address),
        ("Sandbox gateway", stack.gateway_url),
        (
            "Emails",
            f"caught on smtp://127.0.0.1:{stack.smtp_port}, each a .eml file in {stack.mail_dir}",
        ),
        ("Risk model", _risk_model(stack)),
        (
            "Webhooks",
            "[yellow]development: endpoints may be http and private addresses[/] "
            "(PAYSAGA_WEBHOOK_ALLOW_PRIVATE_URLS=true; never in production)",
        ),
        ("Database", make_url(stack.database_url).render_as_string(hide_password=True)),
        ("Data dir", str(stack.data_dir)),
        ("Logs", str(stack.log_dir)),
    ]


def _risk_model(stack: EmbeddedStack) -> str:
    card = stack.risk_model_card
    if card is None:
        return f"none yet ({stack.risk_model_path})"
    return (
        f"{card.version}: held-out precision {card.precision:.2f}, recall "
        f"{card.recall:.2f} at threshold {card.threshold:.2f} ({stack.risk_model_path})"
    )


def print_summary(stack: EmbeddedStack) -> None:
    """The block ``paysaga dev`` prints once everything is ready."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(stack):
        table.add_row(label, value)
    console = Console(highlight=False)
    console.print(Panel(table, title="paysaga dev", expand=False))
    # Keys on lines of their own, so a terminal's wrapping never breaks a copy.
    if stack.api_key:
        console.print(f"API key of {DEV_TENANT} (shown once):", stack.api_key, markup=False)
    console.print("Admin key (PAYSAGA_ADMIN_KEY, new each start):", stack.admin_key, markup=False)
    console.print(
        "Codec token (PAYSAGA_CODEC_TOKEN, new each start):", stack.codec_token, markup=False
    )
    console.print(
        "Sandbox gateway token (PAYSAGA_SANDBOX_GATEWAY_TOKEN, new each start):",
        stack.sandbox_gateway_token,
        markup=False,
    )
    console.print("Create a payment:")
    console.print(f"  {example_curl(stack)}", soft_wrap=True, markup=False)
    console.print("Press Ctrl-C to stop.")
