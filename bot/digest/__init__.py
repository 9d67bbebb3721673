"""The daily digest: one post per channel, at the channel's time, exactly once.

- :mod:`.content` — what a digest says (new documents with extractive key points, questions
  grouped by meaning, refusals, votes), as plain data.
- :mod:`.schedule` — when: pure functions of ``now`` and a channel's time and time zone.
- :mod:`.scheduler` — :class:`~.scheduler.DigestRunner` claims, builds and posts one digest;
  :class:`~.scheduler.DigestScheduler` runs it on time (APScheduler) and catches up after a
  restart.
- :mod:`.render`, :mod:`.slack`, :mod:`.discord` — the words (``prompts/*/digest*.txt``), Block
  Kit and embeds within each platform's limits, posting, and Slack's ``/digest``.
"""
