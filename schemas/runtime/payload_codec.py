"""AES-256-GCM payload encryption, so the Temporal server stores only ciphertext.

Every payload a paysaga process sends (workflow inputs, results, signals, updates, queries,
activity arguments, failure details) is serialized by the pydantic converter, then sealed
here: ``encoding: binary/encrypted``, the key id in ``encryption-key-id`` and a fresh 12-byte
nonce in front of the ciphertext (the layout of temporalio samples-python ``encryption/``).
The key id is the AES-GCM associated data, so a payload relabelled with another key id
fails authentication instead of being read under the wrong key.

Rotation: the current key encrypts; every configured key decrypts, so histories written
under a retired key stay readable as long as that key is kept.

An unencrypted payload is refused on decode: once keys are set, anyone who can reach the
Temporal frontend could otherwise signal, update or start a workflow with plaintext of
their own choosing, and the worker would act on it. The refusal fails the workflow task
(or the activity), visibly, instead. ``PAYSAGA_ACCEPT_PLAINTEXT_PAYLOADS`` lets histories
written before encryption was turned on be read during a migration window.
"""

import base64
import dataclasses
import logging
import os
from collections.abc import Mapping
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.converter import PayloadCodec

from schemas.runtime.settings import Settings

log = logging.getLogger("paysaga.codec")

ENCODING = b"binary/encrypted"
ENCODING_KEY = "encoding"
KEY_ID_KEY = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32


class PayloadDecryptionError(ValueError):
    """A payload that cannot be opened: unknown key id, altered bytes, or not encrypted at
    all while plaintext is refused."""


class EncryptionCodec(PayloadCodec):
    def __init__(
        self, keys: Mapping[str, bytes], encrypt_with: str, *, accept_plaintext: bool = False
    ) -> None:
        super().__init__()
        self.accept_plaintext = accept_plaintext
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"payload key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        if encrypt_with not in keys:
            raise ValueError(f"the encrypting key {encrypt_with!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.key_id = encrypt_with

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _seal(self, payload: Payload) -> Payload:
        key_id = self.key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={ENCODING_KEY: ENCODING, KEY_ID_KEY: key_id}, data=nonce + sealed)

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get(ENCODING_KEY) != ENCODING:
            if self.accept_plaintext:
                return payload  # written before encryption was on
            raise PayloadDecryptionError(
                "unencrypted payload refused: it was not written by a paysaga process "
                "holding the payload keys (set PAYSAGA_ACCEPT_PLAINTEXT_PAYLOADS=true only "
                "while histories from before encryption still run)"
            )
        key_id = payload.metadata.get(KEY_ID_KEY, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with unknown key id {key_id!r}: add that key to "
                "PAYSAGA_PAYLOAD_KEYS (a retired key must be kept while histories use it)"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            # Never say more: which byte differs would help nobody but an attacker.
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} failed authentication: altered, or "
                "relabelled with another key id"
            ) from None
        return Payload.FromString(plain)


def codec_from_settings(
    settings: Settings, *, accept_plaintext: bool | None = None
) -> EncryptionCodec | None:
    """The codec of ``PAYSAGA_PAYLOAD_KEYS``; None when no keys are configured. Plaintext is
    accepted as ``PAYSAGA_ACCEPT_PLAINTEXT_PAYLOADS`` says unless the caller decides."""
    if not settings.payload_keys or settings.payload_key_id is None:
        return None
    keys = {
        key_id: base64.b64decode(key.get_secret_value())
        for key_id, key in settings.payload_keys.items()
    }
    if accept_plaintext is None:
        accept_plaintext = settings.accept_plaintext_payloads
    return EncryptionCodec(
        keys, encrypt_with=settings.payload_key_id, accept_plaintext=accept_plaintext
    )


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted when payload keys are configured.

    Failure messages and stack traces are moved into the (encrypted) failure details too:
    an exception's text may quote a request, and the server would otherwise keep it plain.
    """
    codec = codec_from_settings(settings)
    if codec is None:
        log.warning(
            "payloads are stored unencrypted in Temporal: set PAYSAGA_PAYLOAD_KEYS and "
            "PAYSAGA_PAYLOAD_KEY_ID to encrypt them"
        )
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
