"""complaint follow-ups: the conversation, the text and the due time of a follow-up

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import desk.models

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follow_up") as batch:
        batch.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("due_at", desk.models.UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_follow_up_conversation_id_conversation"),
            "conversation",
            ["conversation_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_follow_up_conversation_id"), ["conversation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("follow_up") as batch:
        batch.drop_index(op.f("ix_follow_up_conversation_id"))
        batch.drop_constraint(
            op.f("fk_follow_up_conversation_id_conversation"), type_="foreignkey"
        )
        batch.drop_column("due_at")
        batch.drop_column("text")
        batch.drop_column("conversation_id")
