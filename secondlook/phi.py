"""PHI encrypted at rest: MongoDB client-side field-level encryption, explicit mode.

A service seals each PHI value before it writes it and opens it after it reads
it; the store, its oplog and its backups only ever hold ciphertext. Values are
sealed with the randomised algorithm, except where an equality lookup needs the
same ciphertext for the same value (`seal_lookup`, deterministic: an MRN).

The data keys live in the key vault collection, each wrapped by a master key from
a KMS provider: in development a local 96-byte key in a file (generated into the
dev stack's state folder, never committed), in production a cloud KMS (AWS, Azure,
GCP or KMIP) configured by settings. `rotate` re-wraps every data key under the
configured master key (`secondlook keys rotate`); sealed values never change.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timezone
from pathlib import Path
from typing import Any

from bson.binary import STANDARD, Binary
from bson.codec_options import CodecOptions
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.encryption import Algorithm
from pymongo.errors import DuplicateKeyError, EncryptionError

from .settings import Settings

ENCRYPTED_SUBTYPE = 6  # BSON binary subtype of a client-side encrypted value
LOCAL_KEY_BYTES = 96
KEY_CACHE_MS = 15 * 60 * 1000


class PhiConfigurationError(Exception):
    """The PHI encryption settings are missing or unusable (named in the message)."""


def _local_provider(path: Path) -> tuple[str, dict]:
    """("local:<fingerprint>", {"key": bytes}): a name per key, so a key being
    retired and its successor can both be configured during a rotation."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise PhiConfigurationError(f"SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE: cannot read {path}: {exc}") from None
    if len(key) != LOCAL_KEY_BYTES:
        raise PhiConfigurationError(f"SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE: {path} must hold exactly "
                                    f"{LOCAL_KEY_BYTES} bytes (secondlook keys new-local-key PATH makes one)")
    return f"local:{hashlib.sha256(key).hexdigest()[:16]}", {"key": key}


def kms_configuration(settings: Settings) -> tuple[dict, str, dict | None]:
    """(KMS providers, the provider new data keys are wrapped with, its master key spec)."""
    if settings.phi_kms_provider == "local":
        if settings.phi_local_master_key_file is None:
            raise PhiConfigurationError("SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE is required with the local KMS "
                                        "provider (development), or set SECONDLOOK_PHI_KMS_PROVIDER")
        current, key = _local_provider(settings.phi_local_master_key_file)
        providers = {current: key}
        if settings.phi_local_previous_master_key_file is not None:
            previous, old = _local_provider(settings.phi_local_previous_master_key_file)
            providers[previous] = old
        return providers, current, None
    try:
        credentials = json.loads(settings.phi_kms_credentials.get_secret_value() or "{}")
        master_key = json.loads(settings.phi_master_key or "null")
    except json.JSONDecodeError as exc:
        raise PhiConfigurationError(f"SECONDLOOK_PHI_KMS_CREDENTIALS / SECONDLOOK_PHI_MASTER_KEY: not JSON ({exc})") \
            from None
    if not isinstance(master_key, dict):
        raise PhiConfigurationError("SECONDLOOK_PHI_MASTER_KEY is required with a cloud KMS provider: the key "
                                    "as JSON, e.g. {\"region\": \"us-east-1\", \"key\": \"arn:aws:kms:...\"}")
    return {settings.phi_kms_provider: credentials}, settings.phi_kms_provider, master_key


def new_local_master_key(path: Path) -> None:
    """Writes a fresh local master key, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(LOCAL_KEY_BYTES))


def _encryption(settings: Settings, client) -> tuple[AsyncClientEncryption, str, dict | None]:
    providers, current, master_key = kms_configuration(settings)
    # Dates come back as the store's client gives them: aware, in UTC. A data key stays
    # unwrapped in memory for KEY_CACHE_MS: when it lapses, every seal under way at that
    # moment fetches it again (measured: p99 hops of ~1 s once a minute at the default 60 s).
    encryption = AsyncClientEncryption(providers, settings.phi_key_vault_namespace, client,
                                       CodecOptions(uuid_representation=STANDARD, tz_aware=True, tzinfo=timezone.utc),
                                       key_expiration_ms=KEY_CACHE_MS)
    return encryption, current, master_key


class PhiCipher:
    """Seals and opens one service's PHI with its data key (`key_name`)."""

    def __init__(self, settings: Settings, client, key_name: str):
        """Checks the KMS settings (PhiConfigurationError names what is wrong); sends nothing."""
        self._encryption, self._provider, self._master_key = _encryption(settings, client)
        self._vault = client[settings.phi_key_vault_namespace.split(".", 1)[0]][
            settings.phi_key_vault_namespace.split(".", 1)[1]]
        self._key_name = key_name

    async def ensure_key(self) -> None:
        """Creates the service's data key on first use (a replica starting at the same
        time finds the one the other made: the key names are unique)."""
        await self._vault.create_index("keyAltNames", unique=True,
                                       partialFilterExpression={"keyAltNames": {"$exists": True}})
        if await self._vault.find_one({"keyAltNames": self._key_name}, projection={"_id": 1}) is None:
            try:
                await self._encryption.create_data_key(self._provider, master_key=self._master_key,
                                                       key_alt_names=[self._key_name])
            except DuplicateKeyError:
                pass  # another replica made it first
            except Exception as exc:  # libmongocrypt reports the duplicate inside its own error
                if "E11000" not in str(exc) and "duplicate key" not in str(exc):
                    raise
        # Seal and open once: a master key that cannot unwrap the data key (a wrong
        # or retired key file) stops the service here, not at its first case.
        try:
            probe = await self.seal("probe")
            opened = await self.open(probe)
        except EncryptionError as exc:
            raise PhiConfigurationError(f"the data key {self._key_name!r} cannot be used with the configured "
                                        f"master key ({self._provider}): {exc}") from None
        if opened != "probe":
            raise PhiConfigurationError(f"the data key {self._key_name!r} does not open what it sealed")

    async def seal(self, value: Any) -> Binary:
        return await self._encryption.encrypt(value, Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random,
                                              key_alt_name=self._key_name)

    async def seal_lookup(self, value: str) -> Binary:
        """The same ciphertext for the same value: for equality lookups only."""
        return await self._encryption.encrypt(value, Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic,
                                              key_alt_name=self._key_name)

    async def fingerprint(self, text: str) -> str:
        """A digest of `text` keyed by the data key (its deterministic ciphertext,
        hashed): the same on every replica and after a master key rotation (which
        re-wraps the data key, never changes it), for ids that must be made again from
        PHI; without the key nobody holding such an id can test a guessed text."""
        return hashlib.sha256(bytes(await self.seal_lookup(text))).hexdigest()

    async def open(self, value: Any) -> Any:
        """The value a sealed one holds; a value written before encryption is returned as it is."""
        if isinstance(value, Binary) and value.subtype == ENCRYPTED_SUBTYPE:
            return await self._encryption.decrypt(value)
        return value

    async def close(self) -> None:
        await self._encryption.close()


async def rotate(settings: Settings, client) -> int:
    """Re-wraps every data key under the configured master key; returns how many."""
    encryption, current, master_key = _encryption(settings, client)
    try:
        result = await encryption.rewrap_many_data_key({}, provider=current, master_key=master_key)
        return result.bulk_write_result.modified_count if result.bulk_write_result else 0
    finally:
        await encryption.close()
