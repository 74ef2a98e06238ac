"""The AES-256-GCM payload codec: what the Temporal server stores is ciphertext only."""

import base64
import logging
import os

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from schemas.payments import PaymentInput
from schemas.runtime.payload_codec import EncryptionCodec
from schemas.runtime.payload_codec import PayloadDecryptionError
from schemas.runtime.payload_codec import codec_from_settings
from schemas.runtime.payload_codec import data_converter
from schemas.runtime.settings import Settings

K1, K2 = os.urandom(32), os.urandom(32)
SECRET_TEXT = "order 8812 for Ada Lovelace"


def payload_of(value) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


def value_of(payload: Payload):
    return pydantic_data_converter.payload_converter.from_payloads([payload])[0]


async def test_round_trip_keeps_the_payload_exactly():
    codec = EncryptionCodec({"k1": K1}, encrypt_with="k1")
    original = payload_of({"description": SECRET_TEXT, "amount": 1999})
    [sealed] = await codec.encode([original])
    [opened] = await codec.decode([sealed])
    assert opened == original
    assert value_of(opened) == {"description": SECRET_TEXT, "amount": 1999}


async def test_what_is_stored_is_ciphertext_with_the_key_id():
    codec = EncryptionCodec({"k1": K1}, encrypt_with="k1")
    original = payload_of({"description": SECRET_TEXT})
    [sealed] = await codec.encode([original])
    assert dict(sealed.metadata) == {
        "encoding": b"binary/encrypted",
        "encryption-key-id": b"k1",
    }
    stored = sealed.SerializeToString()
    for plain in (SECRET_TEXT.encode(), b"Lovelace", b"8812", b"json/plain", b"description"):
        assert plain not in stored
    # A fresh nonce each time: the same value never encrypts to the same bytes.
    [again] = await codec.encode([original])
    assert again.data != sealed.data
    assert again.data[:12] != sealed.data[:12]


async def test_rotation_old_payloads_still_decrypt_and_new_ones_use_the_new_key():
    before = EncryptionCodec({"k1": K1}, encrypt_with="k1")
    [old] = await before.encode([payload_of("written under k1")])

    after = EncryptionCodec({"k2": K2, "k1": K1}, encrypt_with="k2")
    [new] = await after.encode([payload_of("written under k2")])

    assert old.metadata["encryption-key-id"] == b"k1"
    assert new.metadata["encryption-key-id"] == b"k2"
    assert [value_of(p) for p in await after.decode([old, new])] == [
        "written under k1",
        "written under k2",
    ]
    # The retired key alone cannot read what the new key wrote.
    with pytest.raises(PayloadDecryptionError, match="unknown key id 'k2'"):
        await before.decode([new])


async def test_an_unknown_key_id_is_a_clear_error():
    [sealed] = await EncryptionCodec({"gone": K1}, encrypt_with="gone").encode([payload_of(1)])
    codec = EncryptionCodec({"k2": K2}, encrypt_with="k2")
    with pytest.raises(
        PayloadDecryptionError, match=r"unknown key id 'gone'.*PAYSAGA_PAYLOAD_KEYS"
    ):
        await codec.decode([sealed])


async def test_altered_ciphertext_fails_authentication():
    codec = EncryptionCodec({"k1": K1}, encrypt_with="k1")
    [sealed] = await codec.encode([payload_of({"amount": 1999})])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=sealed.metadata, data=bytes(flipped))
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([tampered])


async def test_the_key_id_is_bound_so_it_cannot_be_swapped():
    # Both keys are the same bytes: only the associated data (the key id) tells them apart.
    codec = EncryptionCodec({"k1": K1, "alias": K1}, encrypt_with="k1")
    [sealed] = await codec.encode([payload_of({"amount": 1999})])
    relabelled = Payload(
        metadata={**sealed.metadata, "encryption-key-id": b"alias"}, data=sealed.data
    )
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([relabelled])


async def test_an_unencrypted_payload_is_refused():
    codec = EncryptionCodec({"k1": K1}, encrypt_with="k1")
    forged = payload_of({"decision": "approve"})
    [sealed] = await codec.encode([payload_of("now")])
    with pytest.raises(PayloadDecryptionError, match="unencrypted payload refused"):
        await codec.decode([sealed, forged])
    converter = data_converter(settings_with_keys(k1=K1))
    with pytest.raises(PayloadDecryptionError, match="PAYSAGA_ACCEPT_PLAINTEXT_PAYLOADS"):
        await converter.decode([forged])


async def test_payloads_written_before_encryption_pass_through_when_opted_in():
    codec = EncryptionCodec({"k1": K1}, encrypt_with="k1", accept_plaintext=True)
    plain = payload_of({"recorded": "before encryption"})
    [sealed] = await codec.encode([payload_of("now")])
    decoded = await codec.decode([plain, sealed])
    assert decoded[0] == plain
    assert value_of(decoded[1]) == "now"
    settings = settings_with_keys(k1=K1).model_copy(update={"accept_plaintext_payloads": True})
    assert await data_converter(settings).decode([plain]) == [{"recorded": "before encryption"}]


def test_keys_must_be_aes_256_and_the_current_key_must_be_one_of_them():
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptionCodec({"short": os.urandom(16)}, encrypt_with="short")
    with pytest.raises(ValueError, match="not among the keys"):
        EncryptionCodec({"k1": K1}, encrypt_with="k2")


def settings_with_keys(**keys: bytes) -> Settings:
    encoded = {key_id: SecretStr(base64.b64encode(key).decode()) for key_id, key in keys.items()}
    return Settings(payload_keys=encoded, payload_key_id=next(iter(keys)))


async def test_the_data_converter_encrypts_pydantic_payloads_and_failure_text():
    converter = data_converter(settings_with_keys(k2=K2, k1=K1))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.key_id == "k2"
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    value = PaymentInput(
        payment_id="pay_codec",
        tenant_id="ten_codec",
        amount=1999,
        currency="USD",
        customer_id="cus_codec",
        payment_method="tok_visa",
        description=SECRET_TEXT,
    )
    [stored] = await converter.encode([value])
    assert stored.metadata["encoding"] == b"binary/encrypted"
    assert b"pay_codec" not in stored.SerializeToString()
    [back] = await converter.decode([stored], [PaymentInput])
    assert back == value


def test_without_keys_payloads_are_plain_and_a_warning_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="paysaga.codec"):
        converter = data_converter(Settings(payload_keys={}, payload_key_id=None))
    assert converter is pydantic_data_converter
    assert codec_from_settings(Settings(payload_keys={}, payload_key_id=None)) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unencrypted" in warnings[0].getMessage()
