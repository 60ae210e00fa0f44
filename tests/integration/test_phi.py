"""The PHI cipher against the real store: sealing, the data key made once, the
local master key rotated with its predecessor configured, and settings refused
by name."""

from __future__ import annotations

import asyncio

import pytest
from bson.binary import Binary

from secondlook.phi import PhiCipher, PhiConfigurationError, new_local_master_key, rotate
from secondlook.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(infra_settings):
    store = Store(infra_settings, "intake")
    yield store
    await store.close()


@pytest.fixture
async def vault(infra_settings, store, tmp_path):
    """Settings of their own key vault, so that tests do not share data keys."""
    db = f"kv_{abs(hash(tmp_path)) % 10**10}"
    yield infra_settings.model_copy(update={"phi_key_vault_namespace": f"{db}.datakeys"})
    await store.client.drop_database(db)


async def test_sealed_values_are_ciphertext_that_opens_to_the_value(store, vault):
    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    sealed = await cipher.seal({"given_name": "Ada", "birth_date": "1815-12-10"})
    assert isinstance(sealed, Binary) and sealed.subtype == 6 and b"Ada" not in bytes(sealed)
    assert await cipher.open(sealed) == {"given_name": "Ada", "birth_date": "1815-12-10"}
    assert await cipher.seal("x") != await cipher.seal("x")  # randomised
    assert await cipher.seal_lookup("MRN-1") == await cipher.seal_lookup("MRN-1")  # deterministic, for lookups
    assert await cipher.open("written before encryption") == "written before encryption"


async def test_replicas_starting_together_share_one_data_key(store, vault):
    ciphers = [PhiCipher(vault, store.client, "shared-phi") for _ in range(3)]
    await asyncio.gather(*(c.ensure_key() for c in ciphers))
    db, coll = vault.phi_key_vault_namespace.split(".")
    assert await store.client[db][coll].count_documents({"keyAltNames": "shared-phi"}) == 1
    sealed = await ciphers[0].seal("one key")
    assert [await c.open(sealed) for c in ciphers] == ["one key"] * 3


async def test_the_local_master_key_is_rotated_and_what_it_sealed_stays_readable(store, vault, tmp_path):
    old_key, new_key = tmp_path / "old.key", tmp_path / "new.key"
    new_local_master_key(old_key)
    new_local_master_key(new_key)
    before = vault.model_copy(update={"phi_local_master_key_file": old_key})
    cipher = PhiCipher(before, store.client, "rotated-phi")
    await cipher.ensure_key()
    sealed = await cipher.seal("sealed under the old master key")
    await cipher.close()

    during = vault.model_copy(update={"phi_local_master_key_file": new_key,
                                      "phi_local_previous_master_key_file": old_key})
    assert await rotate(during, store.client) == 1

    after = vault.model_copy(update={"phi_local_master_key_file": new_key})  # the old key is gone
    assert await PhiCipher(after, store.client, "rotated-phi").open(sealed) == "sealed under the old master key"
    stale = PhiCipher(before, store.client, "rotated-phi")  # only the retired key: cannot unwrap any more
    with pytest.raises(Exception, match="local"):
        await stale.open(sealed)
    with pytest.raises(PhiConfigurationError, match="cannot be used with the configured master key"):
        await PhiCipher(before, store.client, "rotated-phi").ensure_key()  # a service stops at start


def test_missing_or_unusable_settings_are_named(infra_settings, tmp_path):
    with pytest.raises(PhiConfigurationError, match="SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE is required"):
        PhiCipher(infra_settings.model_copy(update={"phi_local_master_key_file": None}), None, "k")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 32)
    with pytest.raises(PhiConfigurationError, match="96 bytes"):
        PhiCipher(infra_settings.model_copy(update={"phi_local_master_key_file": short}), None, "k")
    with pytest.raises(PhiConfigurationError, match="SECONDLOOK_PHI_MASTER_KEY is required"):
        PhiCipher(infra_settings.model_copy(update={"phi_kms_provider": "aws"}), None, "k")
    with pytest.raises(FileExistsError):
        new_local_master_key(infra_settings.phi_local_master_key_file)  # a key in use is never overwritten
