"""`secondlook review seal-texts`: seals what earlier versions of review wrote in clear
(opinions' texts, decline notes, blind assessments), whatever the start-up pass
recorded: run it once a rolling update is over, when pods of the earlier version may
have written in clear while the new ones started (deploy/k8s/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys

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
            await cipher.ensure_key()
            return await repository.seal_legacy_texts(client[settings.database_for("review")], cipher, once=False)
        finally:
            await cipher.close()
            await client.close()

    try:
        sealed, left = asyncio.run(seal())
    except PhiConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
