"""What a client may tell paysaga about a payment for the fraud check."""

from ipaddress import IPv4Address
from ipaddress import IPv6Address
from typing import Annotated

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import IPvAnyAddress
from pydantic import StringConstraints

from schemas.card_data import refuse_card_numbers


def _address_as_text(value: object) -> object:
    # pydantic would also take 167772161 for 10.0.0.1: the API takes addresses as text only.
    if not isinstance(value, str | IPv4Address | IPv6Address):
        raise ValueError("an IP address is sent as text, e.g. 203.0.113.7 or 2001:db8::1")
    return value


IpAddress = Annotated[IPvAnyAddress, BeforeValidator(_address_as_text)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(examples=["US"])]
# The provider's fingerprint of the card (Stripe: payment_method.card.fingerprint): the same
# card gives the same fingerprint, so velocity can follow a card across customers. An
# identifier, never the card number itself.
CardFingerprint = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$"),
    AfterValidator(refuse_card_numbers),
]


class RiskSignals(BaseModel):
    """Optional signals of ``POST /v1/payments``; rules and the model use what is given."""

    model_config = ConfigDict(extra="forbid")

    ip_address: IpAddress | None = Field(
        default=None, description="the customer's IP address when paying"
    )
    ip_country: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country of that IP address"
    )
    card_country: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country that issued the card"
    )
    card_fingerprint: CardFingerprint | None = None

    @property
    def country_mismatch(self) -> bool:
        """The card's and the IP's countries differ (false when either is unknown)."""
        return bool(self.ip_country and self.card_country and self.ip_country != self.card_country)
