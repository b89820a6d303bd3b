"""The chat's rules, free of I/O.

- A conversation is between two different users, about one product or none; the same pair
  about the same product is the same conversation, whichever of them opens it.
- Only its participants (or an admin) read it; a message goes from one participant to the
  other.
- A participant whose name is unknown is shown under a placeholder, flagged as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from generated.chat.models import ChatParticipant

__all__ = ["ChatRuleError", "pair_of", "participant", "placeholder_name", "recipient_of"]


class ChatRuleError(ValueError):
    """A request that breaks a chat rule."""


def pair_of(participant_ids: Sequence[UUID]) -> tuple[UUID, UUID]:
    """The two participants in a canonical order; raise unless they are two different users."""
    if len(participant_ids) != 2 or participant_ids[0] == participant_ids[1]:
        raise ChatRuleError("participant_ids: two different users.")
    first, second = sorted(participant_ids)
    return first, second


def recipient_of(pair: tuple[UUID, UUID], sender: UUID) -> UUID:
    """The other participant; raise if `sender` is not one of the pair."""
    if sender not in pair:
        raise ChatRuleError(f"{sender} is not a participant of this conversation.")
    return pair[1] if sender == pair[0] else pair[0]


def placeholder_name(user_id: UUID) -> str:
    """What a participant is called while their name is unknown."""
    return f"Usuario {user_id.hex[:8]}"


def participant(user_id: UUID, names: Mapping[UUID, str]) -> ChatParticipant:
    """A participant under their known name, or under a flagged placeholder."""
    name = names.get(user_id)
    if name is None:
        return ChatParticipant(
            user_id=user_id, display_name=placeholder_name(user_id), placeholder=True
        )
    return ChatParticipant(user_id=user_id, display_name=name, placeholder=False)
