"""drafts, console users and sessions, API tokens, the audit log, idempotency keys

A campaign may now be a draft: its recap text and lint report are kept with
it, and who created it. Campaign statuses are stored as strings, so "draft"
needs no change to the status column.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("recap_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lint", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(400), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("role", sa.Enum("viewer", "editor", "sender", "admin", name="user_role", native_enum=False, length=20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(400), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True, index=True),
        sa.Column("target", sa.String(400), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("body_digest", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "key"),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "audit_log", "api_tokens", "console_sessions", "users"):
        op.drop_table(table)
    with op.batch_alter_table("campaigns") as batch:
        for column in ("updated_at", "created_by", "lint", "recap_text"):
            batch.drop_column(column)
