"""The chat service's own tables: conversations, messages, and the names of users.

`display_names` is the local copy of each user's name, from the user service's answers and
its UserRegistered/UserProfileUpdated events, whichever is newest (`changed_at`); it is what
a conversation shows when the user service cannot be asked. Messages of a conversation are
appended under its row's lock, so its `conversation-<id>` stream grows one version at a time.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.chat.models import ChatMessage, ChatMessagePage
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from runtime.http import ProblemError

__all__ = ["ChatTables", "StoredConversation", "stream_of"]

_NO_PRODUCT = UUID(int=0)

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".display_names (
    user_id uuid PRIMARY KEY, display_name text NOT NULL, changed_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".conversations (
    conversation_id uuid PRIMARY KEY, first_id uuid NOT NULL, second_id uuid NOT NULL,
    product_id uuid NOT NULL, created_at timestamptz NOT NULL, last_message_at timestamptz,
    CHECK (first_id < second_id), UNIQUE (first_id, second_id, product_id));
CREATE TABLE IF NOT EXISTS "{s}".messages (
    message_id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES "{s}".conversations,
    sender_id uuid NOT NULL, recipient_id uuid NOT NULL, body text NOT NULL,
    sent_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS messages_page
    ON "{s}".messages (conversation_id, sent_at DESC, message_id DESC);
"""


def stream_of(conversation_id: UUID) -> str:
    """The event stream of one conversation."""
    return f"conversation-{conversation_id}"


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A conversation's row."""

    conversation_id: UUID
    pair: tuple[UUID, UUID]
    product_id: UUID | None
    created_at: datetime
    last_message_at: datetime | None


class ChatTables:
    """SQL of the chat service's tables in its own schema."""

    def __init__(self, schema: str = "chat") -> None:
        self._schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self._schema))

    async def remember_name(
        self, tx: Transaction, user_id: UUID, name: str, changed_at: datetime
    ) -> None:
        """Keep `name` for the user unless a later one is kept already."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.display_names AS d VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name,"
            " changed_at = excluded.changed_at WHERE d.changed_at <= excluded.changed_at",
            user_id,
            name,
            changed_at,
        )

    async def names(self, tx: Transaction, user_ids: tuple[UUID, ...]) -> dict[UUID, str]:
        """The kept names of those users that have one."""
        rows = await connection_of(tx).fetch(
            f"SELECT user_id, display_name FROM {self._s}.display_names"
            " WHERE user_id = any($1::uuid[])",
            list(user_ids),
        )
        return {r["user_id"]: r["display_name"] for r in rows}

    async def open(
        self,
        tx: Transaction,
        conversation_id: UUID,
        pair: tuple[UUID, UUID],
        product_id: UUID | None,
        now: datetime,
    ) -> StoredConversation:
        """The pair's conversation about the product: the existing one, or a new one."""
        connection = connection_of(tx)
        await connection.execute(
            f"INSERT INTO {self._s}.conversations VALUES ($1, $2, $3, $4, $5, NULL)"
            " ON CONFLICT (first_id, second_id, product_id) DO NOTHING",
            conversation_id,
            *pair,
            product_id or _NO_PRODUCT,
            now,
        )
        row = await connection.fetchrow(
            f"SELECT * FROM {self._s}.conversations"
            " WHERE first_id = $1 AND second_id = $2 AND product_id = $3",
            *pair,
            product_id or _NO_PRODUCT,
        )
        return _conversation(row)

    async def get(
        self, tx: Transaction, conversation_id: UUID, *, lock: bool = False
    ) -> StoredConversation | None:
        """One conversation; with `lock`, its row is locked until the transaction ends."""
        row = await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.conversations WHERE conversation_id = $1"
            + (" FOR UPDATE" if lock else ""),
            conversation_id,
        )
        return _conversation(row) if row else None

    async def add_message(self, tx: Transaction, message: ChatMessage) -> None:
        """Record a message and make it the conversation's last."""
        connection = connection_of(tx)
        await connection.execute(
            f"INSERT INTO {self._s}.messages VALUES ($1, $2, $3, $4, $5, $6)",
            message.message_id,
            message.conversation_id,
            message.sender_id,
            message.recipient_id,
            message.body,
            message.sent_at,
        )
        await connection.execute(
            f"UPDATE {self._s}.conversations SET last_message_at = $2"
            " WHERE conversation_id = $1 AND (last_message_at IS NULL OR last_message_at < $2)",
            message.conversation_id,
            message.sent_at,
        )

    async def messages(
        self, tx: Transaction, conversation_id: UUID, limit: int, cursor: str | None
    ) -> ChatMessagePage:
        """A conversation's messages, newest first, `limit` at a time after `cursor`."""
        after_time, after_id = _decode(cursor) if cursor else (None, None)
        rows = await connection_of(tx).fetch(
            "SELECT message_id, conversation_id, sender_id, recipient_id, body, sent_at"
            f" FROM {self._s}.messages WHERE conversation_id = $1"
            " AND ($2::timestamptz IS NULL OR (sent_at, message_id) < ($2, $3))"
            " ORDER BY sent_at DESC, message_id DESC LIMIT $4",
            conversation_id,
            after_time,
            after_id,
            limit + 1,
        )
        items = [ChatMessage.model_validate(dict(r)) for r in rows[:limit]]
        more = len(rows) > limit
        return ChatMessagePage(items=items, next_cursor=_encode(items[-1]) if more else None)


def _conversation(row: Any) -> StoredConversation:
    product = row["product_id"]
    return StoredConversation(
        conversation_id=row["conversation_id"],
        pair=(row["first_id"], row["second_id"]),
        product_id=None if product == _NO_PRODUCT else product,
        created_at=row["created_at"],
        last_message_at=row["last_message_at"],
    )


def _encode(message: ChatMessage) -> str:
    raw = f"{message.sent_at.isoformat()}|{message.message_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        sent, message_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(sent), UUID(message_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "Bad Request", "cursor is not one this API gave") from exc
