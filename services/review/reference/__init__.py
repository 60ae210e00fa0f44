"""The reference data review ships with, read from the files beside this module: the
reasons a prior-authorization denial may give (`denial_reasons.v1.json`)."""

from __future__ import annotations

import functools
import json
from importlib import resources

from ..domain.priorauth import DenialReasons

DENIAL_REASONS = "denial_reasons.v1.json"


@functools.cache
def denial_reasons() -> DenialReasons:
    return DenialReasons.from_document(json.loads(
        resources.files(__package__).joinpath(DENIAL_REASONS).read_text(encoding="utf-8")))
