"""review inbox: who resolved an item and how (the intent it was taught as, or out of scope)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        batch.add_column(sa.Column("resolved_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(length=128), nullable=True))
        batch.create_foreign_key(
            op.f("fk_review_item_resolved_by_id_staff_member"),
            "staff_member",
            ["resolved_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        batch.drop_constraint(
            op.f("fk_review_item_resolved_by_id_staff_member"), type_="foreignkey"
        )
        batch.drop_column("resolution")
        batch.drop_column("resolved_by_id")
