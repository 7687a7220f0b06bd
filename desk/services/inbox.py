"""The console's conversations: the list (those with staff first, waiting the longest), one
conversation's whole chat, and the staff's steps on it — take over from the bot, reply with
text and files, hand back (`topics.StaffTopics.hand_back_to_bot`, the same as `/bot`).

A console reply is a `staff_copy` row of the taxpayer's channel (key `staff_copy:console:…`,
payload `text`, `staff_id`, `documents` [{attachment_id, name, storage_key}], `source:
"console"`), so every channel's sender delivers it and the chat view shows it as staff's, as it
shows the copies of what staff wrote in the Telegram topic. When the conversation has a staff
topic, the reply is also posted there (`staff_console_reply`) and a take-over refreshes the
topic's card: both places show the same thing. Every step checks its rule
(`permissions`: `take_over`, `reply`, `hand_back`) here, whoever calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from desk.errors import MissingText, NotFound
from desk.models import Attachment, Case, Conversation, Message, Outbox, StaffMember, Taxpayer
from desk.services.topics import RelayedToTaxpayer, StaffTopics, chat_row, staff_row

#: The outbox keys of what staff wrote to a taxpayer (from the topic or from the console).
STAFF_COPY = "staff_copy:"
CONSOLE_COPY = "staff_copy:console:"
MAX_REPLY = 4000  # characters of one console reply (Telegram's message is 4,096)


BUTTON_MARK = "【按钮】"  # a pressed button in the chat, shown by its title


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the console's conversation list."""

    id: int
    display_name: str
    channel: str
    state: str
    updated_at: datetime
    last_at: datetime | None
    last_text: str | None
    open_cases: int


@dataclass(frozen=True, slots=True)
class ChatDocument:
    """A file in the chat (a link to `/console/attachments/{id}`)."""

    attachment_id: int
    name: str


@dataclass(frozen=True, slots=True)
class ChatItem:
    """One message of the chat: `who` is taxpayer, bot or staff; `pending` a staff reply
    not delivered yet (still in the outbox); `key` orders and identifies it on the page."""

    key: str
    who: str
    text: str
    at: datetime
    staff_name: str | None = None
    documents: tuple[ChatDocument, ...] = ()
    pending: bool = False


@dataclass(slots=True)
class ConversationView:
    """A conversation with its whole chat and its cases."""

    id: int
    display_name: str
    channel: str
    chat_id: str
    state: str
    items: list[ChatItem]
    cases: list[tuple[str, str, str]] = field(default_factory=list)  # number, title, status
    has_topic: bool = False


def _documents(payload: dict[str, Any]) -> tuple[ChatDocument, ...]:
    out = []
    for doc in payload.get("documents") or []:
        try:
            out.append(ChatDocument(int(doc["attachment_id"]), str(doc.get("name") or "文件")))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)


class Inbox(StaffTopics):
    """The conversations of the console (see the module docstring)."""

    async def conversations(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        q: str = "",
        limit: int = 100,
    ) -> list[ConversationRow]:
        """Those with staff first (waiting the longest first: the oldest change of state),
        then the others, most recent first. `state` bot/human, `channel`, `q` (part of the
        taxpayer's name, or the conversation's number) filter."""
        last_at = (
            select(func.max(Message.created_at))
            .where(Message.conversation_id == Conversation.id)
            .scalar_subquery()
        )
        query = select(Conversation, Taxpayer.display_name, last_at.label("last_at")).join(
            Taxpayer, Taxpayer.id == Conversation.taxpayer_id
        )
        if state in ("bot", "human"):
            query = query.where(Conversation.state == state)
        if channel:
            query = query.where(Conversation.channel == channel)
        q = q.strip()
        if q:
            cond = [Taxpayer.display_name.contains(q, autoescape=True)]
            if q.isdigit():
                cond.append(Conversation.id == int(q))
            query = query.where(or_(*cond))
        humans = await self.session.execute(
            query.where(Conversation.state == "human")
            .order_by(Conversation.updated_at, Conversation.id)
            .limit(limit)
        )
        rows = list(humans.all())
        if len(rows) < limit and state != "human":
            others = await self.session.execute(
                query.where(Conversation.state != "human")
                .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
                .limit(limit - len(rows))
            )
            rows.extend(others.all())
        ids = [conv.id for conv, _n, _l in rows]
        texts: dict[int, str | None] = {}
        cases: dict[int, int] = {}
        if ids:
            latest = (
                select(func.max(Message.id))
                .where(Message.conversation_id.in_(ids))
                .group_by(Message.conversation_id)
            )
            for conv_id, text in await self.session.execute(
                select(Message.conversation_id, Message.text).where(Message.id.in_(latest))
            ):
                texts[int(conv_id)] = text
            for case_conv, n in await self.session.execute(
                select(Case.conversation_id, func.count(Case.id))
                .where(Case.conversation_id.in_(ids), Case.closed_at.is_(None))
                .group_by(Case.conversation_id)
            ):
                cases[int(case_conv or 0)] = int(n)
        await self._commit()
        return [
            ConversationRow(
                id=conv.id,
                display_name=name or f"纳税人 {conv.id}",
                channel=conv.channel,
                state=conv.state,
                updated_at=conv.updated_at,
                last_at=last,
                last_text=texts.get(conv.id),
                open_cases=cases.get(conv.id, 0),
            )
            for conv, name, last in rows
        ]

    async def conversation_view(
        self, conversation_id: int, *, limit: int = 500
    ) -> ConversationView:
        """The conversation's chat (its last `limit` messages, oldest first, and the staff
        replies still in the outbox) and its cases."""
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        taxpayer = await self.session.get(Taxpayer, conv.taxpayer_id)
        messages = list(
            await self.session.scalars(
                select(Message)
                .where(Message.conversation_id == conv.id)
                .order_by(Message.id.desc())
                .limit(limit)
            )
        )
        messages.reverse()
        keys = [m.outbox_key for m in messages if (m.outbox_key or "").startswith(STAFF_COPY)]
        copies: dict[str, dict[str, Any]] = {}
        if keys:
            for key, payload in await self.session.execute(
                select(Outbox.idempotency_key, Outbox.payload).where(
                    Outbox.idempotency_key.in_(keys)
                )
            ):
                copies[key] = payload or {}
        pending = list(
            await self.session.scalars(
                select(Outbox)
                .where(
                    Outbox.channel == conv.channel,
                    Outbox.chat_id == conv.chat_id,
                    Outbox.kind == "staff_copy",
                    Outbox.status.in_(("pending", "sending")),
                )
                .order_by(Outbox.id)
            )
        )
        staff_ids = {
            int(p["staff_id"])
            for p in [*copies.values(), *(o.payload for o in pending)]
            if isinstance(p.get("staff_id"), int)
        }
        names: dict[int, str] = {}
        if staff_ids:
            for sid, name in await self.session.execute(
                select(StaffMember.id, StaffMember.name).where(StaffMember.id.in_(staff_ids))
            ):
                names[int(sid)] = name
        attached = {m.attachment_id for m in messages if m.attachment_id is not None}
        att_names: dict[int, str] = {}
        if attached:
            for aid, original in await self.session.execute(
                select(Attachment.id, Attachment.original_name).where(Attachment.id.in_(attached))
            ):
                att_names[int(aid)] = original or f"文件 {aid}"
        items: list[ChatItem] = []
        titles: dict[str, str] = {}  # button payload -> the title the taxpayer pressed
        for m in messages:
            docs: tuple[ChatDocument, ...] = ()
            if m.attachment_id is not None:
                docs = (ChatDocument(m.attachment_id, att_names.get(m.attachment_id, "文件")),)
            if m.direction == "in":
                text = m.text or ""
                if text in titles:  # a pressed button reads as what it said, not its payload
                    text = f"{BUTTON_MARK}{titles[text]}"
                items.append(ChatItem(f"m{m.id}", "taxpayer", text, m.created_at, None, docs))
                continue
            for row in (m.meta or {}).get("buttons") or []:
                for button in row:
                    if isinstance(button, dict) and button.get("payload"):
                        titles[str(button["payload"])] = str(button.get("title") or "")
            copy = copies.get(m.outbox_key or "")
            if copy is not None or (m.outbox_key or "").startswith(STAFF_COPY):
                payload = copy or {}
                writer = payload.get("staff_id")
                items.append(
                    ChatItem(
                        f"m{m.id}",
                        "staff",
                        str(payload.get("text") or m.text or ""),
                        m.created_at,
                        names.get(writer) if isinstance(writer, int) else None,
                        docs + _documents(payload),
                    )
                )
            else:
                items.append(ChatItem(f"m{m.id}", "bot", m.text or "", m.created_at, None, docs))
        for row in pending:
            writer = row.payload.get("staff_id")
            items.append(
                ChatItem(
                    f"o{row.id}",
                    "staff",
                    str(row.payload.get("text") or ""),
                    row.created_at,
                    names.get(writer) if isinstance(writer, int) else None,
                    _documents(row.payload),
                    pending=True,
                )
            )
        cases = [
            (c.number, self.case_title(c.case_type), c.status)
            for c in await self.session.scalars(
                select(Case).where(Case.conversation_id == conv.id).order_by(Case.opened_at.desc())
            )
        ]
        view = ConversationView(
            id=conv.id,
            display_name=(taxpayer.display_name if taxpayer else None) or f"纳税人 {conv.id}",
            channel=conv.channel,
            chat_id=conv.chat_id,
            state=conv.state,
            items=items,
            cases=cases,
            has_topic=await self._has_topic(conv.id),
        )
        await self._commit()
        return view

    async def take_over(self, conversation_id: int, staff_id: int) -> RelayedToTaxpayer:
        """A staff member takes the conversation over from the bot (the console's button):
        state `human`, the taxpayer told "工作人员XX为您服务", the topic's card refreshed,
        in one transaction. `took_over` False: staff had it already."""
        member = await self._staff(staff_id)
        await self._authorize(member, "take_over")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        took = await self._take_over(conv, member, f"taken_over:console:{uuid.uuid4().hex}")
        done = RelayedToTaxpayer(conv.channel, conv.chat_id, took)
        await self._commit()
        return done

    async def staff_reply(
        self,
        conversation_id: int,
        staff_id: int,
        text: str,
        attachment_ids: Sequence[int] = (),
    ) -> RelayedToTaxpayer:
        """A staff member's reply from the console, in one transaction: takes the
        conversation over if the bot had it, then a `staff_copy` row for the taxpayer's
        channel (see the module docstring) and, when the conversation has a staff topic, a
        `staff_console_reply` row posting it there. The files are stored attachments
        (`check_and_store`: the intake's checks)."""
        member = await self._staff(staff_id)
        await self._authorize(member, "reply")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        text = (text or "").strip()[:MAX_REPLY]
        documents = []
        for aid in attachment_ids:
            att = await self.session.get(Attachment, int(aid))
            if att is None:
                raise await self._fail(NotFound(f"attachment {aid}"))
            documents.append(
                {
                    "attachment_id": att.id,
                    "name": att.original_name or f"文件{att.id}",
                    "storage_key": att.storage_key,
                }
            )
        if not text and not documents:
            raise await self._fail(MissingText("text", "回复内容"))
        took = await self._take_over(conv, member, f"taken_over:console:{uuid.uuid4().hex}")
        key = f"{CONSOLE_COPY}{conv.id}:{uuid.uuid4().hex}"
        self.session.add(
            chat_row(
                conv,
                "staff_copy",
                {
                    "conversation_id": conv.id,
                    "text": text or None,
                    "staff_id": member.id,
                    "documents": documents,
                    "source": "console",
                },
                self.now(),
                key,
            )
        )
        if await self._has_topic(conv.id):
            self.session.add(
                staff_row(
                    conv.id,
                    "staff_console_reply",
                    {
                        "staff_name": member.name,
                        "text": text,
                        "documents": [d["name"] for d in documents],
                    },
                    self.now(),
                    key=f"staff:{conv.id}:console:{key}",
                )
            )
        done = RelayedToTaxpayer(conv.channel, conv.chat_id, took)
        await self._commit()
        return done
