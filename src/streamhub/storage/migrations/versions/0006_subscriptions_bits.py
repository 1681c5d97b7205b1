"""Subscriptions (tier, period, months, streak, gifts, founders) and Bits (balances, cheered).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _user_fk(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                     primary_key=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        _user_fk("broadcaster_id"),
        _user_fk("user_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cumulative_months", sa.Integer(), nullable=False),
        sa.Column("streak_months", sa.Integer(), nullable=False),
        sa.Column("is_gift", sa.Boolean(), nullable=False),
        sa.Column("gifter_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("founder", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("broadcaster_id", "seq", name="uq_subscriptions_seq"),
    )
    op.create_index("ix_subscriptions_user_id", "subscriptions", ["user_id"])
    op.create_table(
        "bits_balances",
        _user_fk("user_id"),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name="ck_bits_balances_nonnegative"),
    )
    op.create_table(
        "bits_cheered",
        _user_fk("channel_id"),
        _user_fk("user_id"),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bits_cheered_channel_total", "bits_cheered", ["channel_id", "total"])


def downgrade() -> None:
    op.drop_index("ix_bits_cheered_channel_total", "bits_cheered")
    op.drop_table("bits_cheered")
    op.drop_table("bits_balances")
    op.drop_index("ix_subscriptions_user_id", "subscriptions")
    op.drop_table("subscriptions")
