"""button payloads in the database (button maps survive restarts without Redis)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import desk.models

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "button_payload",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", desk.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", "key", name=op.f("pk_button_payload")),
    )
    with op.batch_alter_table("button_payload", schema=None) as batch_op:
        batch_op.create_index("ix_button_payload_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("button_payload", schema=None) as batch_op:
        batch_op.drop_index("ix_button_payload_created_at")
    op.drop_table("button_payload")
