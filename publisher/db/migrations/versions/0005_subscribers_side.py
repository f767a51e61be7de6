"""subscribers' side: consent proof, public lists, hashed suppressions, provider events

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("description", sa.String(length=1000), nullable=False, server_default=""))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("consent_user_agent", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum("issue", "confirmation", name="campaign_kind", native_enum=False, length=20),
                nullable=False,
                server_default="issue",
            )
        )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=True)
    # Existing entries get their hash here, in Python: SQLite has no sha256().
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, email FROM suppressions")).fetchall()
    for row_id, email in rows:
        digest = hashlib.sha256(email.encode()).hexdigest()
        connection.execute(sa.text("UPDATE suppressions SET email_hash = :h WHERE id = :i"), {"h": digest, "i": row_id})
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.alter_column("email_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_suppressions_email_hash", ["email_hash"], unique=False)
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "delivered",
                "bounced_hard",
                "bounced_soft",
                "complained",
                "unsubscribed",
                "opened",
                "clicked",
                "deferred",
                name="event_type",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "dedupe_key"),
    )
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_events_delivery_id", ["delivery_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_events_delivery_id")
    op.drop_table("delivery_events")
    op.execute("DELETE FROM suppressions WHERE email IS NULL")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_email_hash")
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_column("email_hash")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("unsubscribed_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("consent_user_agent")
        batch_op.drop_column("consent_ip")
    with op.batch_alter_table("mailing_lists", schema=None) as batch_op:
        batch_op.drop_column("description")
        batch_op.drop_column("public")
