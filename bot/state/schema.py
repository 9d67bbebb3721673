"""The state tables. Alembic's migrations in ``bot/migrations`` create and upgrade them; these
definitions are what the queries are written against."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("thread", sa.String(128)),
    sa.Column("user_hash", sa.String(64), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("document", sa.String(256)),
    sa.Column("paragraph", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("latency_ms", sa.Float),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_hash", sa.String(64), primary_key=True),
    sa.Column("vote", sa.SmallInteger, nullable=False),
    sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
)

channel_settings = sa.Table(
    "channel_settings",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("answer_all", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

collections = sa.Table(
    "collections",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

channel_collections = sa.Table(
    "channel_collections",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("collection", sa.String(64), sa.ForeignKey("collections.name", ondelete="CASCADE"), primary_key=True),
)

processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


# The daily digest (bot/digest): per-channel schedule, one row per run, and which documents each
# channel's digests have already shown (the index keeps no added-at time, so "new" is "not yet
# shown here", by content hash, which also makes a changed document new again).
digest_settings = sa.Table(
    "digest_settings",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("at_time", sa.String(5), nullable=False),  # "09:00", wall clock in ``timezone``
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("post_empty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

digest_runs = sa.Table(
    "digest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    # A scheduled run's local date, or "manual:<uuid>". Unique per channel, so of two replicas
    # claiming the same day's run, one insert fails: a digest is posted once.
    sa.Column("slot", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # scheduled, manual
    sa.Column("status", sa.String(16), nullable=False),  # claimed, posted, empty, failed, missed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("scheduled_for", sa.DateTime(timezone=True)),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
    sa.Column("questions", sa.Integer),
    sa.Column("documents", sa.Integer),
    sa.Column("message", sa.String(128)),  # the posted message's ts / id
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("platform", "channel", "slot", name="uq_digest_runs_slot"),
)

digest_documents = sa.Table(
    "digest_documents",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("doc_id", sa.String(256), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("digest_runs.id", ondelete="CASCADE")),
    sa.Column("covered_at", sa.DateTime(timezone=True), nullable=False),
)

DIGEST_DONE = ("posted", "empty")  # runs whose window the next digest starts after
