"""What a digest says, as plain data: new documents with their key points, the questions asked,
the ones CiteBot could not answer, and the votes. No platform and no wording here.

Key points are whole sentences of the document, chosen by :func:`index.keypoints.key_points`
from the vectors the index already holds; nothing is generated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from index.engine import DEFAULT_COLLECTION, CiteIndex
from index.keypoints import KeyPoint, key_points
from index.store import Snapshot

from ..state import StateStore, StoredQuestion

# Cosine similarity at which two questions count as one. all-MiniLM-L6-v2 puts rephrasings of a
# question ("how much did Xi pledge" / "what amount did Xi pledge?") above it and different
# questions about the same topic below it.
SAME_QUESTION = 0.8
TOP_QUESTIONS = 5
MAX_UNANSWERED = 10
FIRST_WINDOW = timedelta(days=1)  # a channel's first digest reports the day before it


@dataclass(frozen=True)
class NewDocument:
    doc_id: str
    title: str
    source: str
    url: str | None
    content_hash: str
    key_points: tuple[KeyPoint, ...]


@dataclass(frozen=True)
class QuestionGroup:
    question: str  # the most asked wording
    count: int
    answered: bool  # at least one of them was answered
    answer: str  # the latest short answer; "" when none was answered
    wordings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    documents: tuple[NewDocument, ...] = ()
    asked: int = 0
    answered: int = 0
    top_questions: tuple[QuestionGroup, ...] = ()  # the most asked of those answered
    unanswered: tuple[QuestionGroup, ...] = ()  # every one refused, most asked first
    refused: int = 0  # questions (not groups) that were not answered
    thumbs_up: int = 0
    thumbs_down: int = 0

    @property
    def quiet(self) -> bool:
        """Nothing worth a post: no new document and no question."""
        return not self.documents and self.asked == 0


def new_documents(
    snapshot: Snapshot, seen: set[tuple[str, str]], collections: set[str] | None = None
) -> list[NewDocument]:
    """Documents (by content) a channel's digests have not shown yet, in index order; with
    ``collections``, only documents of those collections."""
    found = []
    for document in snapshot.documents.values():
        if (document.doc_id, document.content_hash) in seen:
            continue
        if collections is not None and document.collection not in collections:
            continue
        found.append(
            NewDocument(
                doc_id=document.doc_id,
                title=document.title,
                source=document.source,
                url=document.url,
                content_hash=document.content_hash,
                key_points=tuple(key_points(snapshot, document.doc_id)),
            )
        )
    return found


# --- questions -----------------------------------------------------------------------------------

_FOLD = re.compile(r"[\W_]+")


def _folded(text: str) -> str:
    return _FOLD.sub(" ", text.casefold()).strip()


def group_questions(records: Sequence[StoredQuestion], embed) -> list[QuestionGroup]:
    """Questions with near-duplicates merged, most asked first.

    ``records`` are question rows, oldest first; ``embed`` turns texts into unit vectors (the
    index's embedder). Identical wordings (ignoring case and punctuation) merge first; then a
    wording joins the first group whose leading wording is at least :data:`SAME_QUESTION`
    similar.
    """
    by_wording: dict[str, list[StoredQuestion]] = {}
    for record in records:
        by_wording.setdefault(_folded(record.question) or record.question, []).append(record)
    if not by_wording:
        return []
    wordings = sorted(by_wording, key=lambda w: (-len(by_wording[w]), by_wording[w][0].id))
    vectors = np.asarray(embed([by_wording[w][0].question for w in wordings]), dtype=np.float32)

    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(wordings)):
        if leaders:
            similarity = vectors[leaders] @ vectors[i]
            best = int(np.argmax(similarity))
            if similarity[best] >= SAME_QUESTION:
                members[leaders[best]].append(i)
                continue
        leaders.append(i)
        members[i] = [i]

    groups = []
    for leader in leaders:
        rows = [r for i in members[leader] for r in by_wording[wordings[i]]]
        rows.sort(key=lambda r: (r.asked_at, r.id))
        spelled = Counter(r.question for r in rows)
        in_order = list(dict.fromkeys(r.question for r in rows))
        question = max(in_order, key=spelled.__getitem__)  # among equals, the first asked
        answered = [r for r in rows if r.answered]
        groups.append(
            QuestionGroup(
                question=question,
                count=len(rows),
                answered=bool(answered),
                answer=answered[-1].answer if answered else "",
                wordings=tuple(in_order),
            )
        )
    groups.sort(key=lambda g: -g.count)  # stable: equal counts keep first-asked order
    return groups


# --- the whole digest ----------------------------------------------------------------------------


def window_start(
    state: StateStore, platform: str | None, channel: str | None, until: datetime
) -> datetime:
    """Where a channel's next digest starts: the end of its last one, else a day back."""
    if platform is not None and channel is not None:
        last = state.last_digest(platform, channel)
        if last is not None and last.window_end is not None:
            # A replica whose clock runs behind must not reach back over what was covered.
            return min(last.window_end, until)
    return until - FIRST_WINDOW


def build_digest(
    index: CiteIndex,
    state: StateStore,
    *,
    platform: str | None,
    channel: str | None,
    until: datetime,
    since: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> Digest:
    """The digest of one channel for ``(since, until]``; with ``platform``/``channel`` None,
    of everything (the console preview). A channel's digest shows only documents of the
    collections it sees. Blocking: run it in a thread from async code."""
    until = until.astimezone(UTC)
    since = since or window_start(state, platform, channel, until)
    snapshot = index.snapshot()
    collections = None
    if platform is not None and channel is not None:
        collections = set(state.channel_collections(platform, channel) or [DEFAULT_COLLECTION])
    documents = new_documents(snapshot, state.digested_documents(platform, channel), collections)
    records = state.questions_between(platform, channel, since, until)
    groups = group_questions(records, index.embedder.embed)
    up, down = state.votes_between(platform, channel, since, until)
    answered = sum(1 for r in records if r.answered)
    return Digest(
        since=since,
        until=until,
        zone=zone or ZoneInfo("UTC"),
        documents=tuple(documents),
        asked=len(records),
        answered=answered,
        top_questions=tuple(g for g in groups if g.answered)[:TOP_QUESTIONS],
        unanswered=tuple(g for g in groups if not g.answered)[:MAX_UNANSWERED],
        refused=len(records) - answered,
        thumbs_up=up,
        thumbs_down=down,
    )
