"""`secondlook review seal-texts`: seals what earlier versions of review wrote in clear
(opinions' texts, decline notes, blind assessments), whatever the start-up pass
recorded: run it once a rolling update is over, when pods of the earlier version may
have written in clear while the new ones started (deploy/k8s/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pymongo.errors import ConnectionFailure

from secondlook.phi import PhiCipher, PhiConfigurationError
from secondlook.settings import Settings

from . import repository
from .sealed import PHI_KEY


def _seal_texts(args: argparse.Namespace) -> int:
    from pymongo import AsyncMongoClient

    settings = Settings()

    async def seal() -> tuple[int, int]:
        client = AsyncMongoClient(settings.mongo_uri, tz_aware=True, w="majority", journal=True,
                                  serverSelectionTimeoutMS=10_000)
        cipher = PhiCipher(settings, client, PHI_KEY)
        try:
            # Never a key of its own: one made here (another vault named by mistake) would
            # seal what review could not open.
            vault_db, vault = settings.phi_key_vault_namespace.split(".", 1)
            if await client[vault_db][vault].find_one({"keyAltNames": PHI_KEY}, {"_id": 1}) is None:
                raise PhiConfigurationError(f"no data key {PHI_KEY!r} in {settings.phi_key_vault_namespace} "
                                            "(SECONDLOOK_PHI_KEY_VAULT_NAMESPACE): review creates it at its start")
            db = client[settings.database_for("review")]
            if repository.ASSIGNMENTS not in await db.list_collection_names():
                raise PhiConfigurationError(f"no review database {db.name!r} (SECONDLOOK_MONGO_DATABASE_PREFIX)")
            await cipher.ensure_key()  # the key is there: this checks that the master key unwraps it
            return await repository.seal_legacy_texts(db, cipher, once=False)
        finally:
            await cipher.close()
            await client.close()

    try:
        sealed, left = asyncio.run(seal())
    except PhiConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConnectionFailure as exc:
        print(f"error: the store cannot be reached (SECONDLOOK_MONGO_URI): {exc.__class__.__name__}", file=sys.stderr)
        return 2
    print(f"sealed {sealed} document(s) of review's that held what reviewers wrote in clear")
    if left:
        print(f"error: {left} document(s) left in clear (moved meanwhile, or unreadable: see the log); run it again",
              file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="review's store (SECONDLOOK_MONGO_URI, SECONDLOOK_PHI_*)")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    seal = review_sub.add_parser(
        "seal-texts", help="seal what earlier versions wrote in clear (opinions' texts, decline notes, blind "
        "assessments); run it once a rolling update of review is over")
    seal.set_defaults(func=_seal_texts)
