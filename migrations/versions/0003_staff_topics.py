"""staff topics: a conversation's forum topic in the staff supergroup, relayed messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:59:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import desk.models

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_topic",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("staff_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("card_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", desk.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_staff_topic_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_staff_topic")),
        sa.UniqueConstraint("staff_chat_id", "thread_id", name=op.f("uq_staff_topic_staff_chat_id")),
    )
    op.create_table(
        "relayed_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("taxpayer_message_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", desk.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_relayed_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relayed_message")),
    )
    with op.batch_alter_table("relayed_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_relayed_message_taxpayer", ["conversation_id", "taxpayer_message_id"]
        )
        batch_op.create_index("ix_relayed_message_staff", ["staff_chat_id", "staff_message_id"])


def downgrade() -> None:
    with op.batch_alter_table("relayed_message", schema=None) as batch_op:
        batch_op.drop_index("ix_relayed_message_staff")
        batch_op.drop_index("ix_relayed_message_taxpayer")
    op.drop_table("relayed_message")
    op.drop_table("staff_topic")
