"""verification: registered tax handlers' phones, verified chats, one-time codes, failed tries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import desk.models

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tax_handler",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tax_id", sa.String(length=18), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", desk.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_handler")),
        sa.UniqueConstraint("tax_id", "phone", name=op.f("uq_tax_handler_tax_id")),
    )
    with op.batch_alter_table("tax_handler", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tax_handler_tax_id"), ["tax_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tax_handler_phone"), ["phone"], unique=False)
    op.create_table(
        "verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taxpayer_id", sa.Integer(), nullable=False),
        sa.Column("tax_id", sa.String(length=18), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("verified_at", desk.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxpayer_id"],
            ["taxpayer.id"],
            name=op.f("fk_verification_taxpayer_id_taxpayer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification")),
        sa.UniqueConstraint("taxpayer_id", "tax_id", name=op.f("uq_verification_taxpayer_id")),
    )
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_tax_id"), ["tax_id"], unique=False)
    op.create_table(
        "verification_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tax_id", sa.String(length=18), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", desk.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", desk.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", desk.models.UTCDateTime(), nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["used_by"],
            ["taxpayer.id"],
            name=op.f("fk_verification_code_used_by_taxpayer"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_verification_code_code_hash")),
    )
    op.create_table(
        "verification_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taxpayer_id", sa.Integer(), nullable=False),
        sa.Column("at", desk.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxpayer_id"],
            ["taxpayer.id"],
            name=op.f("fk_verification_attempt_taxpayer_id_taxpayer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_attempt")),
    )
    with op.batch_alter_table("verification_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_verification_attempt_taxpayer_at", ["taxpayer_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("verification_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_attempt_taxpayer_at")
    op.drop_table("verification_attempt")
    op.drop_table("verification_code")
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_tax_id"))
    op.drop_table("verification")
    with op.batch_alter_table("tax_handler", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_handler_phone"))
        batch_op.drop_index(batch_op.f("ix_tax_handler_tax_id"))
    op.drop_table("tax_handler")
