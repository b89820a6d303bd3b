"""The chat service's REST API: conversations and their messages, for participants only."""

from __future__ import annotations

import uuid
from uuid import UUID

from generated.chat.events import Publisher
from generated.chat.models import (
    ChatMessage,
    ChatMessagePage,
    ChatMessageSent,
    Conversation,
    CreateConversationRequest,
    SendChatMessageRequest,
)
from runtime.eventstore.base import Transaction
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.chat.domain import ChatRuleError, pair_of, participant, recipient_of
from services.chat.names import UnknownUserError, UserDirectory
from services.chat.tables import ChatTables, StoredConversation, stream_of

__all__ = ["ChatApi"]


class ChatApi:
    """Implements `generated.chat.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: ChatTables, users: UserDirectory) -> None:
        self._ctx = ctx
        self._tables = tables
        self._users = users

    async def create_conversation(
        self, principal: Principal, body: CreateConversationRequest
    ) -> Conversation:
        """Check the participants with the user service, then open (or find) the conversation."""
        try:
            pair = pair_of(body.participant_ids)
        except ChatRuleError as exc:
            raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
        if not principal.is_admin and principal.subject not in pair:
            raise _forbidden()
        try:
            fresh = await self._users.names(principal, pair)
        except UnknownUserError as exc:
            raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
        async with self._ctx.transaction() as tx:
            for name in fresh:
                await self._tables.remember_name(
                    tx, name.user_id, name.display_name, name.changed_at
                )
            stored = await self._tables.open(
                tx, uuid.uuid4(), pair, body.product_id, self._ctx.clock()
            )
            return await self._shown(tx, stored)

    async def get_conversation(self, principal: Principal, conversation_id: UUID) -> Conversation:
        """One conversation; names unknown here are asked of the user service first."""
        async with self._ctx.transaction() as tx:
            stored = await self._readable(tx, principal, conversation_id)
            known = await self._tables.names(tx, stored.pair)
        missing = tuple(u for u in stored.pair if u not in known)
        if not missing:
            return _conversation(stored, known)
        try:
            fresh = await self._users.names(principal, missing)
        except UnknownUserError:
            fresh = []
        async with self._ctx.transaction() as tx:
            for name in fresh:
                await self._tables.remember_name(
                    tx, name.user_id, name.display_name, name.changed_at
                )
            return await self._shown(tx, stored)

    async def send_chat_message(
        self, principal: Principal, conversation_id: UUID, body: SendChatMessageRequest
    ) -> ChatMessage:
        """Record the message to the other participant, and ChatMessageSent (the outbox)."""
        principal.require_owner(body.sender_id, "messages of this sender")
        async with self._ctx.transaction() as tx:
            stored = await self._tables.get(tx, conversation_id, lock=True)
            if stored is None:
                raise _not_found(conversation_id)
            try:
                recipient = recipient_of(stored.pair, body.sender_id)
            except ChatRuleError as exc:
                raise ProblemError(403, "Forbidden", str(exc)) from exc
            message = ChatMessage(
                message_id=uuid.uuid4(),
                conversation_id=conversation_id,
                sender_id=body.sender_id,
                recipient_id=recipient,
                body=body.body,
                sent_at=self._ctx.clock(),
            )
            await self._tables.add_message(tx, message)
            sink = await StreamSink.at_end(tx, stream_of(conversation_id))
            await Publisher(sink).chat_message_sent(
                ChatMessageSent.model_validate(message.model_dump()),
                aggregate_id=str(conversation_id),
            )
        return message

    async def list_chat_messages(
        self,
        principal: Principal,
        conversation_id: UUID,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ChatMessagePage:
        """A conversation's messages, newest first."""
        async with self._ctx.transaction() as tx:
            await self._readable(tx, principal, conversation_id)
            return await self._tables.messages(tx, conversation_id, limit, cursor)

    async def _readable(
        self, tx: Transaction, principal: Principal, conversation_id: UUID
    ) -> StoredConversation:
        """The conversation, if it exists (404) and the caller takes part in it (403)."""
        stored = await self._tables.get(tx, conversation_id)
        if stored is None:
            raise _not_found(conversation_id)
        if not principal.is_admin and principal.subject not in stored.pair:
            raise _forbidden()
        return stored

    async def _shown(self, tx: Transaction, stored: StoredConversation) -> Conversation:
        return _conversation(stored, await self._tables.names(tx, stored.pair))


def _conversation(stored: StoredConversation, names: dict[UUID, str]) -> Conversation:
    return Conversation(
        conversation_id=stored.conversation_id,
        participants=[participant(u, names) for u in stored.pair],
        product_id=stored.product_id,
        created_at=stored.created_at,
        last_message_at=stored.last_message_at,
    )


def _not_found(conversation_id: UUID) -> ProblemError:
    return ProblemError(404, "Not Found", f"No conversation {conversation_id}.")


def _forbidden() -> ProblemError:
    return ProblemError(403, "Forbidden", "Only its participants or an admin may use it.")
