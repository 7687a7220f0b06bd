"""produced attachments: a file staff produced for the taxpayer (a certificate, a decision),
sent with the completion notice, told apart from the files the taxpayer sent

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(
            sa.Column("produced", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.drop_column("produced")
