"""The README's settings table is the documentation of Settings: keep them equal."""

import re
from pathlib import Path

from secondlook.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| `(SECONDLOOK_[A-Z_]+)` \|", README.read_text(), re.M))
    actual = {f"SECONDLOOK_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    assert text.index("make run") < text.index("## Architecture")
    assert text.index("make test") < text.index("## Architecture")
