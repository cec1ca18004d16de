"""Encryption at rest for checkpoints and exported models (``Global.encryption_key``, ``-k/--key``).

Files are Fernet tokens (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from the
passphrase with PBKDF2 and a per-file salt. The HMAC makes a wrong key fail loudly instead of yielding
garbage weights.
"""
from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
from typing import Iterator, Optional

from ppocr.utils.io import atomic_write, make_temp_dir

MAGIC = b"PPOCR-ENCRYPTED-1\n"
ENV_KEY = "PPOCR_ENCRYPTION_KEY"
_SALT_BYTES = 16
_KDF_ITERATIONS = 200_000


class EncryptionError(ValueError):
    pass


def _fernet(key: str, salt: bytes):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    if not key:
        raise EncryptionError("the encryption key is empty")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=_KDF_ITERATIONS)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(key.encode("utf-8"))))


def resolve_key(cli_key: Optional[str] = None, config_key: Optional[str] = None) -> Optional[str]:
    """Command line first, then the config, then the ``PPOCR_ENCRYPTION_KEY`` environment variable."""
    return cli_key or config_key or os.environ.get(ENV_KEY) or None


def is_encrypted_bytes(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def is_encrypted(path: str) -> bool:
    with open(path, "rb") as f:
        return is_encrypted_bytes(f.read(len(MAGIC)))


def encrypt_bytes(data: bytes, key: str) -> bytes:
    salt = os.urandom(_SALT_BYTES)
    return MAGIC + salt + _fernet(key, salt).encrypt(data)


def decrypt_bytes(data: bytes, key: Optional[str], name: str = "file") -> bytes:
    """Plain bytes of an encrypted blob; unencrypted data passes through unchanged."""
    from cryptography.fernet import InvalidToken

    if not is_encrypted_bytes(data):
        return data
    if not key:
        raise EncryptionError(f"'{name}' is encrypted: pass the key with -k/--key, Global.encryption_key "
                              f"or the {ENV_KEY} environment variable")
    salt = data[len(MAGIC): len(MAGIC) + _SALT_BYTES]
    try:
        return _fernet(key, salt).decrypt(data[len(MAGIC) + _SALT_BYTES:])
    except InvalidToken:
        raise EncryptionError(f"wrong encryption key for '{name}' (or the file was altered)") from None


def read_file(path: str, key: Optional[str]) -> bytes:
    with open(path, "rb") as f:
        return decrypt_bytes(f.read(), key, path)


def encrypt_file_in_place(path: str, key: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    if is_encrypted_bytes(data):
        return
    with atomic_write(path, "wb") as f:
        f.write(encrypt_bytes(data, key))


DECRYPTED_DIR_NAME = "ppocr-model"  # staging folders of decrypted models: .ppocr-model.<pid>.<random>.tmp


@contextlib.contextmanager
def decrypted_copy(directory: str, names, key: Optional[str]) -> Iterator[str]:
    """A private temporary folder holding decrypted copies of ``names`` from ``directory``.

    For libraries that only load from paths (Paddle Inference); the plain copies live in memory-backed
    /dev/shm when available and are removed as soon as the block ends. The folder is named after this
    process (``.ppocr-model.<pid>.<random>.tmp``), so a copy left by a killed process is removed by the next
    call instead of staying readable. Unencrypted files are used in place.
    """
    paths = [os.path.join(directory, name) for name in names]
    if not any(os.path.isfile(path) and is_encrypted(path) for path in paths):
        yield directory
        return
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    tmp = make_temp_dir(base, DECRYPTED_DIR_NAME)
    try:
        for name in names:
            source = os.path.join(directory, name)
            if os.path.exists(source):
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(read_file(source, key))
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
