"""The daily digest: per-channel settings, one row per run, documents each channel has been shown.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_settings",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(128), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("at_time", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("post_empty", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("scheduled_for", sa.DateTime(timezone=True)),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_end", sa.DateTime(timezone=True)),
        sa.Column("questions", sa.Integer),
        sa.Column("documents", sa.Integer),
        sa.Column("message", sa.String(128)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("platform", "channel", "slot", name="uq_digest_runs_slot"),
    )
    op.create_table(
        "digest_documents",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(128), primary_key=True),
        sa.Column("doc_id", sa.String(256), primary_key=True),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("digest_runs.id", ondelete="CASCADE")),
        sa.Column("covered_at", sa.DateTime(timezone=True), nullable=False),
    )
    # "Votes since the last digest" filters on when a vote was cast.
    op.create_index("ix_feedback_voted_at", "feedback", ["voted_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_voted_at", table_name="feedback")
    op.drop_table("digest_documents")
    op.drop_table("digest_runs")
    op.drop_table("digest_settings")
