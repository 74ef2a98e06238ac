"""Id patterns match a whole id: ``$`` would also match before a final newline."""

import pytest

from api.api_keys import KEY_FORMAT
from schemas import identity

PATTERNS = {
    name: value
    for name, value in vars(identity).items()
    if name.endswith("_ID") and hasattr(value, "match")
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_an_id_with_a_trailing_newline_is_no_id(name):
    pattern = PATTERNS[name]
    prefix = pattern.pattern.split("_", 1)[0].lstrip("^\\A")
    valid = f"{prefix}_{'a' * 24}"
    assert pattern.match(valid)
    for suffix in ("\n", "\r\n", " ", "\x00"):
        assert not pattern.match(valid + suffix), repr(valid + suffix)


def test_an_api_key_with_a_trailing_newline_is_no_key():
    key = f"sk_{'a' * 12}_{'b' * 43}"
    assert KEY_FORMAT.match(key)
    assert not KEY_FORMAT.match(key + "\n")
