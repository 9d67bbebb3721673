"""The daily digest: one post per channel, at the channel's time, exactly once.

- :mod:`.content` — what a digest says (new documents with extractive key points, questions
  grouped by meaning, refusals, votes), as plain data.
- :mod:`.schedule` — when: pure functions of ``now`` and a channel's time and time zone.
- :mod:`.scheduler` — :class:`~.scheduler.DigestRunner` claims, builds and posts one digest;
  :class:`~.scheduler.DigestScheduler` runs it on time (APScheduler) and catches up after a
  restart.
- :mod:`.render` — the words (``prompts/*/digest*.txt``) shared by every platform.

Each platform's Block Kit or embed, its poster and its ``/digest`` command live with the
platform (:mod:`bot.slack.digest`, :mod:`bot.discord.digest`, :mod:`bot.discord.cogs.digest`);
``citebot serve`` hands the posters to the scheduler, so nothing here imports a chat platform.
"""
