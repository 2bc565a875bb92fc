"""The providers of an EncryptionConfiguration, in upstream's storage formats.

A stored value is ``<prefix><ciphertext>``; the prefix names the provider and
the key, so a read finds the one key that wrote it:

- ``aescbc``: ``k8s:enc:aescbc:v1:<key name>:`` + a random 16-byte IV + AES-CBC
  with PKCS#7 padding (keys of 16, 24 or 32 bytes);
- ``aesgcm``: ``k8s:enc:aesgcm:v1:<key name>:`` + a random 12-byte nonce +
  AES-GCM, the storage key as the authenticated data (so a value copied to
  another key does not decrypt);
- ``secretbox``: ``k8s:enc:secretbox:v1:<key name>:`` + a random 24-byte nonce +
  XSalsa20-Poly1305 (32-byte keys; PyNaCl);
- ``identity``: the plain value, no prefix; it refuses to read a value that
  carries ``k8s:enc:`` (upstream's guard, so an identity listed first still
  lets the other providers read what they wrote).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCRYPTED = b"k8s:enc:"


class DecryptError(Exception):
    """A stored value none of the resource's providers can read."""


class Cipher_(Protocol):
    def encrypt(self, plain: bytes, context: bytes) -> bytes: ...

    def decrypt(self, data: bytes, context: bytes) -> bytes: ...


class AesCbc:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def encrypt(self, plain: bytes, context: bytes) -> bytes:
        iv = os.urandom(16)
        p = padding.PKCS7(128).padder()
        e = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return iv + e.update(p.update(plain) + p.finalize()) + e.finalize()

    def decrypt(self, data: bytes, context: bytes) -> bytes:
        if len(data) < 32 or len(data) % 16:
            raise DecryptError("the data is not a whole number of AES blocks")
        d = Cipher(algorithms.AES(self._key), modes.CBC(data[:16])).decryptor()
        u = padding.PKCS7(128).unpadder()
        try:
            return u.update(d.update(data[16:]) + d.finalize()) + u.finalize()
        except ValueError:
            raise DecryptError("invalid padding on input") from None


class AesGcm:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plain: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain, context)

    def decrypt(self, data: bytes, context: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(data[:12], data[12:], context)
        except InvalidTag:
            raise DecryptError("cipher: message authentication failed") from None


class SecretBox:
    def __init__(self, key: bytes) -> None:
        import nacl.secret

        self._box = nacl.secret.SecretBox(key)

    def encrypt(self, plain: bytes, context: bytes) -> bytes:
        return bytes(self._box.encrypt(plain))  # nonce + ciphertext

    def decrypt(self, data: bytes, context: bytes) -> bytes:
        import nacl.exceptions

        try:
            return bytes(self._box.decrypt(data))
        except nacl.exceptions.CryptoError:
            raise DecryptError("output array too small or the box cannot be opened") from None


class Identity:
    def encrypt(self, plain: bytes, context: bytes) -> bytes:
        return plain

    def decrypt(self, data: bytes, context: bytes) -> bytes:
        if data.startswith(ENCRYPTED):
            raise DecryptError("identity transformer tried to read encrypted data")
        return data


@dataclass(frozen=True, slots=True)
class Transformer:
    """One key of one provider: the prefix it writes and its cipher."""

    prefix: bytes
    cipher: Cipher_


def make(kind: str, key: bytes) -> Cipher_:
    if kind == "aescbc":
        return AesCbc(key)
    if kind == "aesgcm":
        return AesGcm(key)
    if kind == "secretbox":
        return SecretBox(key)
    raise ValueError(kind)


def to_storage(transformers: tuple[Transformer, ...], plain: bytes, context: bytes) -> bytes:
    """A value as stored: written by the first transformer."""
    t = transformers[0]
    return t.prefix + t.cipher.encrypt(plain, context)


def from_storage(transformers: tuple[Transformer, ...], data: bytes, context: bytes) -> bytes:
    """A stored value read back by the transformer whose prefix it has (upstream's prefix transformers)."""
    return read(transformers, data, context)[0]


def read(transformers: tuple[Transformer, ...], data: bytes, context: bytes) -> tuple[bytes, bool]:
    """The plain value, and whether it is stale: written by another transformer than the one writes use
    now (so an update must rewrite it even when the object did not change: how a key rotation ends)."""
    errors: list[str] = []
    for i, t in enumerate(transformers):
        if data.startswith(t.prefix):
            try:
                return t.cipher.decrypt(data[len(t.prefix):], context), i != 0
            except DecryptError as e:
                if t.prefix:
                    raise
                errors.append(str(e))  # identity first: let the others try
    raise DecryptError("; ".join(errors) or "no matching prefix found")
