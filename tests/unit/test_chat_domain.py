"""The chat's rules: canonical pairs, recipients, and flagged placeholder names."""

from __future__ import annotations

import uuid

import pytest

from services.chat.domain import ChatRuleError, pair_of, participant, recipient_of


def test_a_pair_is_the_same_whichever_participant_comes_first() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert pair_of([a, b]) == pair_of([b, a])
    assert pair_of([a, b])[0] < pair_of([a, b])[1]


def test_a_user_cannot_talk_to_themself() -> None:
    a = uuid.uuid4()
    with pytest.raises(ChatRuleError, match="two different users"):
        pair_of([a, a])


def test_the_recipient_is_the_other_participant() -> None:
    pair = pair_of([uuid.uuid4(), uuid.uuid4()])
    assert recipient_of(pair, pair[0]) == pair[1]
    assert recipient_of(pair, pair[1]) == pair[0]


def test_an_outsider_is_no_sender() -> None:
    pair = pair_of([uuid.uuid4(), uuid.uuid4()])
    with pytest.raises(ChatRuleError, match="not a participant"):
        recipient_of(pair, uuid.uuid4())


def test_a_known_name_is_shown_as_it_is() -> None:
    user = uuid.uuid4()
    shown = participant(user, {user: "Lucía Martínez"})
    assert (shown.display_name, shown.placeholder) == ("Lucía Martínez", False)


def test_an_unknown_name_is_a_flagged_placeholder_naming_the_user() -> None:
    user = uuid.uuid4()
    shown = participant(user, {})
    assert shown.placeholder is True
    assert user.hex[:8] in shown.display_name
