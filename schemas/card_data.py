"""Card numbers where they must never be: free text that a client or a library writes.

A primary account number is 13 to 19 digits, possibly grouped by spaces, dashes, dots or
underscores, whose Luhn checksum holds (ISO/IEC 7812). Requests carrying one in free text are
refused (every such field is a ``free_text``), and log lines are masked
(schemas/runtime/logs.py), so no PAN is stored or logged (PCI DSS 3.3-3.5) whatever a caller
puts in a description or metadata value.
"""

import re
from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import Field
from pydantic import StringConstraints

# Digits in groups separated by one space, dash, dot or underscore, standing alone: not part
# of a longer digit run (an amount, a timestamp) nor of an identifier (a UUID, a hex trace
# id), whose digits would otherwise be read as a card number about once in a few hundred ids.
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z-])\d(?:[ ._-]?\d){12,18}(?![0-9A-Za-z]|-[0-9A-Za-z])")
_SEPARATORS = str.maketrans("", "", " ._-")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(candidate: str) -> str:
    return candidate.translate(_SEPARATORS)


def find_card_numbers(text: str) -> list[str]:
    """The card-like numbers in ``text``, as written."""
    return [
        match.group() for match in _CANDIDATE.finditer(text) if _luhn_valid(_digits(match.group()))
    ]


def mask_card_numbers(text: str) -> str:
    """``text`` with every card-like number replaced by its last four digits only."""

    def mask(match: re.Match[str]) -> str:
        digits = _digits(match.group())
        return f"[PAN ****{digits[-4:]}]" if _luhn_valid(digits) else match.group()

    return _CANDIDATE.sub(mask, text)


def refuse_card_numbers(text: str) -> str:
    """A pydantic validator for free text: a card number is refused, never stored."""
    if find_card_numbers(text):
        raise ValueError(
            "looks like a card number: send a provider token as payment_method, never "
            "card data in free text"
        )
    return text


# Any text without a NUL byte, as the OpenAPI schema states it.
NO_NUL = r"^[^\u0000]*$"


def refuse_nul(text: str) -> str:
    """A pydantic validator for client text: PostgreSQL text cannot hold a NUL byte, so one
    would fail at the insert (a 500) instead of being refused with the rest of the input."""
    if "\x00" in text:
        raise ValueError("contains a NUL byte (\\u0000)")
    return text


def free_text(max_length: int, **constraints: Any) -> Any:
    """The type of a text field a client writes: a string of at most ``max_length``
    characters (and the other ``StringConstraints`` given) that is refused when it carries a
    card number or a NUL byte."""
    # The schema says it too, so clients (and contract fuzzing) know NUL is not text here.
    documented = {} if "pattern" in constraints else {"pattern": NO_NUL}
    return Annotated[
        str,
        StringConstraints(max_length=max_length, **constraints),
        AfterValidator(refuse_nul),
        AfterValidator(refuse_card_numbers),
        Field(json_schema_extra=documented),
    ]
