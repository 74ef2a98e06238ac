"""The gateway's credential: with a token set, every request needs ``Authorization: Bearer
<token>`` (401 ``authentication_required`` otherwise), as a provider's secret key. Without
it anything that reaches the port could list every tenant's charges (``/v1/charges``,
``/v1/stats``), switch faults on for everyone or charge.

Only what a customer's browser opens from a link the gateway handed out goes without it:
the 3-D Secure challenge and the onboarding page, and what their buttons post. ``/healthz``
too, so a supervisor can probe it. The embedded stack generates the token and gives it to
the gateway and to the worker's adapter (``PAYSAGA_SANDBOX_GATEWAY_TOKEN``).
"""

import hmac
import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from workers.sandbox_gateway.errors import invalid_request

# The environment variable holding it (its name, not a secret).
TOKEN_VARIABLE = "PAYSAGA_SANDBOX_GATEWAY_TOKEN"  # noqa: S105

OPEN_PATHS = re.compile(
    r"/healthz"
    r"|/v1/charges/[^/]+/3ds(/complete)?"
    r"|/v1/accounts/[^/]+/onboarding(/complete)?"
)


class RequireToken:
    """ASGI middleware (not ``BaseHTTPMiddleware``: an injected hang or a cancelled request
    must pass through it unchanged)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or OPEN_PATHS.fullmatch(scope["path"]) or self._holds(scope):
            await self.app(scope, receive, send)
            return
        error = invalid_request(
            "authentication_required",
            "this gateway needs its token: Authorization: Bearer <token>",
            status=401,
        )
        response = JSONResponse(error.body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    def _holds(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, presented = value.partition(b" ")
                # Compared in constant time: the answer's timing tells nothing of the token.
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    presented.strip(), self._token
                )
        return False
