"""The provider servers the adapter tests run against (the sandbox gateway is the session's,
from tests/conftest.py)."""

from tests.support import provider_servers

localstripe = provider_servers.localstripe
stripe_connect = provider_servers.stripe_connect
paypal = provider_servers.paypal
