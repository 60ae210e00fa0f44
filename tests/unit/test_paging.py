"""Page tokens continue the list and filters they were given for, and nothing else."""

import base64
import json

import pytest

from secondlook.paging import page_token, read_page_token


def test_a_token_gives_back_its_position_for_the_same_list_and_filters():
    token = page_token("ListThings", ["cardiology", True], ["2026-11-28T10:00:00.000+00:00", "case-9"])
    assert read_page_token(token, "ListThings", ["cardiology", True]) == ["2026-11-28T10:00:00.000+00:00", "case-9"]
    assert "=" not in token and json.dumps(["case-9"]) not in token  # opaque, URL-safe


@pytest.mark.parametrize("listing, filters", [
    ("ListThings", ["cardiology", False]),  # one filter changed
    ("ListThings", ["oncology", True]),
    ("ListOthers", ["cardiology", True]),  # another list, same filters
])
def test_a_token_is_refused_under_other_filters_or_by_another_list(listing, filters):
    token = page_token("ListThings", ["cardiology", True], ["x"])
    assert read_page_token(token, listing, filters) is None


@pytest.mark.parametrize("token", [
    "not-a-token", "%%%", "", base64.urlsafe_b64encode(b"[1, 2]").decode(),
    base64.urlsafe_b64encode(b'{"v": 2, "f": "x", "p": []}').decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nested past json's depth
])
def test_anything_else_is_no_token(token):
    assert read_page_token(token, "ListThings", []) is None


def test_a_forged_position_in_a_well_formed_token_comes_back_for_the_caller_to_check():
    # The fingerprint binds filters, it is no signature: each list checks the position's shape.
    genuine = json.loads(base64.urlsafe_b64decode(page_token("L", [], ["a"]) + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**genuine, "p": {"a": 1}}).encode()).decode()
    assert read_page_token(forged, "L", []) is None


def test_a_reviewers_inbox_page_continues_under_the_same_reviewer_states_and_urgency_only():
    from datetime import datetime, timezone

    from secondlook import paging
    from services.review.grpc_api import _inbox_after, _inbox_filters

    mine = _inbox_filters("sp-1", (2, 1), 0)
    token = paging.page_token("ListAssignments", mine, [1764324000123, "asg-1"])
    assert _inbox_after(token, _inbox_filters("sp-1", (1, 2), 0)) == (
        datetime.fromtimestamp(1764324000.123, tz=timezone.utc), "asg-1")
    for other in (_inbox_filters("sp-2", (1, 2), 0), _inbox_filters("sp-1", (1,), 0),
                  _inbox_filters("sp-1", (1, 2), 2)):
        assert _inbox_after(token, other) is None
    assert _inbox_after(paging.page_token("ListAssignments", mine, ["soon", "asg-1"]), mine) is None
