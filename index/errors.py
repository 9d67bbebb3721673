"""Errors the index raises; each carries a message fit to show a user as one line."""


class CiteBotError(Exception):
    """Base class: the message is complete and user-facing."""


class DocumentError(CiteBotError):
    """A document could not be ingested; names the file and the reason."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class IndexMissingError(CiteBotError):
    """No usable index on disk."""


class IndexCorruptError(CiteBotError):
    """Index files exist but cannot be read."""


class QuestionError(CiteBotError):
    """The question itself is unusable (empty, too long)."""
