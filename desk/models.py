"""The desk's tables (SQLAlchemy 2, typed declarative; SQLite and PostgreSQL).

All times are timezone-aware UTC (`UTCDateTime` also makes SQLite give them back aware).
JSON columns are JSONB on PostgreSQL. Defaults are computed at insert time, never at import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention (for Alembic)."""

    metadata = MetaData(naming_convention=NAMING)


#: PostgreSQL: case numbers come from this sequence (not transactional: never reused, even
#: after a rollback). SQLite has no sequences; it uses the `case_counter` row instead.
CASE_NUMBER_SEQ = Sequence("case_number_seq", metadata=Base.metadata, start=1)


class Taxpayer(Base):
    """A person or clerk who talks to the office, on one or more channels."""

    __tablename__ = "taxpayer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="taxpayer")
    tax_ids: Mapped[list[TaxpayerTaxId]] = relationship(back_populates="taxpayer")


class ChannelIdentity(Base):
    """A taxpayer's user id on one channel (Telegram user id, web session id, ...)."""

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    taxpayer: Mapped[Taxpayer] = relationship(back_populates="identities")


class TaxpayerTaxId(Base):
    """A verified taxpayer ID (unified social credit code) a taxpayer used."""

    __tablename__ = "taxpayer_tax_id"
    __table_args__ = (UniqueConstraint("taxpayer_id", "tax_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id", ondelete="CASCADE"))
    tax_id: Mapped[str] = mapped_column(String(18), index=True)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    taxpayer: Mapped[Taxpayer] = relationship(back_populates="tax_ids")


class Conversation(Base):
    """One taxpayer's chat on one channel. `state` is `bot` or `human` (handed to staff)."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("taxpayer_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="bot")
    tracker: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    staff_thread_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    taxpayer: Mapped[Taxpayer] = relationship()


class Message(Base):
    """Every inbound and outbound message. `update_id` is unique per channel: an update seen
    twice is stored once."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "update_id"),
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    channel_message_id: Mapped[str | None] = mapped_column(String(64))
    update_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachment.id", ondelete="SET NULL")
    )
    outbox_key: Mapped[str | None] = mapped_column(String(200))
    # what a channel that shows the history again (the web chat) needs besides the text:
    # {"buttons": [[{title, payload, contact}]], "documents": [{attachment_id, name}],
    #  "kind": the notice's kind, "from": "bot" | "staff"}
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffMember(Base):
    """A tax officer. `role`: staff, supervisor or admin."""

    __tablename__ = "staff_member"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="staff")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    login: Mapped[str | None] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseCounter(Base):
    """SQLite's case-number allocator (PostgreSQL uses `case_number_seq`). Never decremented."""

    __tablename__ = "case_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Case(Base):
    """A taxpayer's request in the office's queue. `version` guards concurrent transitions."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_status_deadline", "status", "deadline_at"),
        Index("ix_case_taxpayer_status", "taxpayer_id", "status"),
        Index("ix_case_deadline_id", "deadline_at", "id"),  # the queue's order (0007)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    case_type: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default="collecting")
    slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    taxpayer: Mapped[Taxpayer] = relationship()
    conversation: Mapped[Conversation | None] = relationship()
    assignee: Mapped[StaffMember | None] = relationship()


class CaseEvent(Base):
    """The audit trail: who (actor kind + id) did what, when, from which state to which."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case_at", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    actor_kind: Mapped[str] = mapped_column(String(16))  # taxpayer | staff | system
    actor_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A stored file (content-addressed in the attachment store), maybe on a case's checklist."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    page_count: Mapped[int | None] = mapped_column(Integer)
    document_key: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id", ondelete="SET NULL"), index=True
    )
    taxpayer_id: Mapped[int | None] = mapped_column(ForeignKey("taxpayer.id", ondelete="SET NULL"))
    # made by staff for the taxpayer (a certificate, a decision), not sent by the taxpayer
    produced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """The taxpayer's 好差评 for a closed case (one per case)."""

    __tablename__ = "rating"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    level: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUp(Base):
    """Work for a supervisor: a bad rating or a complaint to look into. A complaint made in a
    chat carries its conversation, its text and the day it is due (`due_at`: the close of
    the office day by which the taxpayer was promised an answer)."""

    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # bad_rating | complaint
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    rating_id: Mapped[int | None] = mapped_column(ForeignKey("rating.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outbox(Base):
    """A side effect to perform after commit (a notice to a chat). Delivered at least once;
    `idempotency_key` lets the receiving side show it once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    channel: Mapped[str | None] = mapped_column(String(32))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReviewItem(Base):
    """A message the NLU was unsure of, for the admins' review inbox."""

    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    parse: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | ignored
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # who closed it in the studio, and how: the intent it was taught as, or "out_of_scope"
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    resolution: Mapped[str | None] = mapped_column(String(128))


class ButtonPayload(Base):
    """The full payload behind a short button key sent to a chat (callback data holds 64
    bytes at most). Kept in the database so a button still works after a restart and when
    another process (the outbox worker) sent it. `created_at` is refreshed on re-send; rows
    older than the store's TTL are ignored and swept."""

    __tablename__ = "button_payload"
    __table_args__ = (Index("ix_button_payload_created_at", "created_at"),)

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffTopic(Base):
    """The forum topic of a conversation in the staff supergroup. One per conversation
    (unique): two first messages at once cannot both keep a topic. Deleted when Telegram says
    the topic is gone, so that the next need creates a new one."""

    __tablename__ = "staff_topic"
    __table_args__ = (UniqueConstraint("staff_chat_id", "thread_id"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)  # the pinned card
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayedMessage(Base):
    """A message copied between the taxpayer's chat and the staff topic (either way), so that
    quote-replies and edits can follow it to the other side."""

    __tablename__ = "relayed_message"
    __table_args__ = (
        Index("ix_relayed_message_taxpayer", "conversation_id", "taxpayer_message_id"),
        Index("ix_relayed_message_staff", "staff_chat_id", "staff_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(16))  # "to_staff" | "to_taxpayer"
    taxpayer_message_id: Mapped[int] = mapped_column(BigInteger)
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    staff_message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaxHandler(Base):
    """A registered tax handler (办税人员) of a taxpayer ID: a phone number staff keep (CLI,
    CSV import). Sharing one's own Telegram contact with this number verifies the chat."""

    __tablename__ = "tax_handler"
    __table_args__ = (UniqueConstraint("tax_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_id: Mapped[str] = mapped_column(String(18), index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # normalised: +8613800138000
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Verification(Base):
    """A taxpayer (a channel account) verified for a taxpayer ID: it may see, change and rate
    every case of that ID. `method`: handler_phone or code."""

    __tablename__ = "verification"
    __table_args__ = (UniqueConstraint("taxpayer_id", "tax_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id", ondelete="CASCADE"))
    tax_id: Mapped[str] = mapped_column(String(18), index=True)
    method: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VerificationCode(Base):
    """A one-time code staff issued for a taxpayer ID (only its SHA-256 is kept)."""

    __tablename__ = "verification_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_id: Mapped[str] = mapped_column(String(18))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("taxpayer.id", ondelete="SET NULL"))


class VerificationAttempt(Base):
    """A failed verification (wrong code): counted to rate-limit guessing."""

    __tablename__ = "verification_attempt"
    __table_args__ = (Index("ix_verification_attempt_taxpayer_at", "taxpayer_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayer.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
