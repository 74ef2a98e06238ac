"""The customer's 3-D Secure challenge page."""

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3-D Secure — sandbox gateway</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto;text-align:center}}
button{{font-size:1.1rem;margin:.5rem;padding:.6rem 1.4rem}}</style></head>
<body>
<h1>Confirm this payment</h1>
<p>{amount} {currency} (minor units) · charge <code>{charge_id}</code></p>
<p id="status">Status: {status}</p>
<button id="succeed" onclick="complete('succeed')">Authenticate</button>
<button id="fail" onclick="complete('fail')">Fail authentication</button>
<script>
async function complete(outcome) {{
  const r = await fetch("{action}", {{method: "POST",
    headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{outcome}})}});
  document.getElementById("status").textContent =
    r.ok ? "Done (" + outcome + "). You can return to the merchant." : "Error " + r.status;
}}
</script>
</body></html>
"""


def page(charge: dict) -> str:
    return _PAGE.format(
        amount=escape(str(charge["amount"])),
        currency=escape(charge["currency"]),
        charge_id=escape(charge["id"]),
        status=escape(charge["status"]),
        action="3ds/complete",  # relative to /v1/charges/{id}/3ds, so a path prefix works
    )
