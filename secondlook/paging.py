"""Page tokens: where a list's next page starts, bound to the request it was given for.

A token is opaque to clients (AIP-158): the position of the last entry a page showed,
and a fingerprint of the list and the filters it was given with. Sent with other
filters, or to another list, it is refused rather than misread: a position within one
filtered list means nothing in another, and would skip or repeat entries unseen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

FORMAT = 1


def _fingerprint(listing: str, filters) -> str:
    # `default=str` so dates and enums in a filter tuple fingerprint as their text.
    return hashlib.sha256(json.dumps([listing, filters], default=str).encode()).hexdigest()[:16]


def page_token(listing: str, filters, position: list) -> str:
    """The token of the page after `position` (JSON values) of `listing` under `filters`."""
    body = {"v": FORMAT, "f": _fingerprint(listing, filters), "p": position}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def read_page_token(token: str, listing: str, filters) -> list | None:
    """The position a token gave out for `listing` under these `filters`; None for any other token."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past json's depth
        return None
    if not isinstance(body, dict) or body.get("v") != FORMAT or body.get("f") != _fingerprint(listing, filters):
        return None
    position = body.get("p")
    return position if isinstance(position, list) else None
