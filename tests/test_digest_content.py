"""What a digest says, from the bundled article and a seeded question log; and how each
platform renders it within its limits without pinging anyone."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.content import (
    Digest,
    NewDocument,
    QuestionGroup,
    build_digest,
    group_questions,
)
from bot.digest.render import console_digest
from bot.discord.digest import digest_message as discord_message
from bot.discord.render import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
)
from bot.slack.digest import digest_message as slack_message
from bot.state import QuestionRecord, StateStore, StoredQuestion
from index.keypoints import KeyPoint, key_points
from tests.fakes.slack_api import validate_blocks

UTC = UTC
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
ARTICLE = "ft-xi-central-asia-2023"
TITLE = "Xi Jinping pushes Central Asian defence co-operation plan"


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()



def asked(n: int, question: str, *, answer: str = "") -> StoredQuestion:
    """A stored, answered question as the digest reads it."""
    return StoredQuestion(id=n, asked_at=NOW, platform="slack", channel="C1", thread=None,
                          question=question, answered=True, answer=answer, document=None,
                          paragraph=None, score=None, latency_ms=None)

def ask(
    state,
    question,
    *,
    answered=True,
    answer="Rmb26bn ($3.7bn)",
    channel="C1",
    platform="slack",
    at=NOW - timedelta(hours=2),
    user="U1",
):
    return state.record_question(
        QuestionRecord(platform, channel, user, question, answered, answer if answered else ""),
        at=at,
    )


# --- key points ----------------------------------------------------------------------------------


def test_key_points_are_exact_sentences_of_the_article_with_their_paragraph(fake_index):
    snapshot = fake_index.snapshot()
    document = snapshot.documents[ARTICLE]
    points = key_points(snapshot, ARTICLE)

    assert 3 <= len(points) <= 5
    for point in points:
        assert document.text[point.start : point.end] == point.text
        paragraph = document.paragraphs[point.paragraph - 1]
        assert paragraph.start <= point.start and point.end <= paragraph.end  # in that paragraph
        assert point.text in document.paragraph_text(point.paragraph)
        assert len(point.text.split()) >= 6
    # Reading order, no sentence twice.
    assert [p.start for p in points] == sorted({p.start for p in points})


def test_key_points_are_the_central_sentences_and_do_not_repeat_each_other(fake_index):
    snapshot = fake_index.snapshot()
    rows = [i for i, s in enumerate(snapshot.sentences) if s.doc_id == ARTICLE]
    vectors = snapshot.sentence_vectors[rows]
    centroid = vectors.mean(axis=0)
    centroid /= (centroid @ centroid) ** 0.5
    by_start = {snapshot.sentences[i].start: vectors[n] for n, i in enumerate(rows)}

    points = key_points(snapshot, ARTICLE)
    chosen = [by_start[p.start] for p in points]
    relevance = sorted(vectors @ centroid, reverse=True)
    # The most central sentence of the article is always a key point.
    assert max(v @ centroid for v in chosen) == pytest.approx(relevance[0])
    # Asking for as many points with no regard for redundancy would repeat more.
    most_similar_pair = max(
        chosen[a] @ chosen[b] for a in range(len(chosen)) for b in range(a + 1, len(chosen))
    )
    assert most_similar_pair < 0.9


# --- documents new since the last digest ---------------------------------------------------------


def test_on_the_first_day_the_bundled_article_is_new_and_then_it_is_not(fake_index, state):
    digest = build_digest(fake_index, state, platform="slack", channel="C1", until=NOW)
    [document] = digest.documents
    assert (document.doc_id, document.title) == (ARTICLE, TITLE)
    assert not digest.quiet and digest.asked == 0

    # A digest posted to C1 covered it; C2 has not seen it yet.
    run = state.claim_digest_run("slack", "C1", "2026-03-03", kind="scheduled", at=NOW)
    state.finish_digest_run(
        run, "posted", window_end=NOW, at=NOW, documents=[(document.doc_id, document.content_hash)]
    )
    later = NOW + timedelta(days=1)
    assert (
        build_digest(fake_index, state, platform="slack", channel="C1", until=later).documents == ()
    )
    assert build_digest(fake_index, state, platform="slack", channel="C2", until=later).documents
    assert build_digest(fake_index, state, platform="slack", channel="C1", until=later).quiet

    # A changed document is new again: coverage is by content, not by name. C3 was shown an
    # earlier version of the article.
    older = state.claim_digest_run("slack", "C3", "2026-03-02", kind="scheduled", at=NOW)
    state.finish_digest_run(
        older, "posted", window_end=NOW, at=NOW, documents=[(ARTICLE, "old-hash")]
    )
    [again] = build_digest(fake_index, state, platform="slack", channel="C3", until=later).documents
    assert again.doc_id == ARTICLE


# --- questions since the last digest -------------------------------------------------------------


def test_question_statistics_from_a_seeded_log(fake_index, state):
    window = NOW - timedelta(days=1)
    ask(state, "How much did Xi pledge?", at=window - timedelta(minutes=1))  # before: not counted
    first = ask(state, "how much did Xi pledge", at=NOW - timedelta(hours=5))
    ask(state, "How much did Xi pledge?", at=NOW - timedelta(hours=4), user="U2")
    ask(state, "How much did XI pledge!!", at=NOW - timedelta(hours=3), user="U3")
    ask(state, "How much did Xi pledge?", at=NOW - timedelta(hours=3), user="U4")  # most common
    ask(state, "Where was the summit held?", answer="Xi'an", at=NOW - timedelta(hours=3))
    refused = ask(
        state, "What is the capital of Peru?", answered=False, at=NOW - timedelta(hours=2)
    )
    ask(state, "what is the capital of peru", answered=False, at=NOW - timedelta(hours=1))
    ask(state, "Who won the 2018 World Cup?", answered=False, at=NOW - timedelta(minutes=30))
    ask(state, "Where was the summit held?", channel="C2")  # another channel
    ask(state, "How much did Xi pledge?", at=NOW + timedelta(minutes=1))  # after: next digest
    state.record_vote(first, "U7", 1, at=NOW - timedelta(hours=1))
    state.record_vote(first, "U8", 1, at=NOW - timedelta(hours=1))
    state.record_vote(refused, "U7", -1, at=NOW - timedelta(hours=1))
    state.record_vote(first, "U9", -1, at=window - timedelta(hours=1))  # before the window

    digest = build_digest(
        fake_index, state, platform="slack", channel="C1", since=window, until=NOW
    )

    assert (digest.asked, digest.answered, digest.refused) == (8, 5, 3)
    assert [(g.question, g.count, g.answer) for g in digest.top_questions] == [
        ("How much did Xi pledge?", 4, "Rmb26bn ($3.7bn)"),
        ("Where was the summit held?", 1, "Xi'an"),
    ]
    assert digest.top_questions[0].wordings == (  # first asked first
        "how much did Xi pledge",
        "How much did Xi pledge?",
        "How much did XI pledge!!",
    )
    assert [(g.question, g.count, g.answered) for g in digest.unanswered] == [
        ("What is the capital of Peru?", 2, False),
        ("Who won the 2018 World Cup?", 1, False),
    ]
    assert (digest.thumbs_up, digest.thumbs_down) == (2, 1)


def test_near_duplicates_are_grouped_by_embedding_similarity():
    texts = ["how much did xi pledge", "what amount did xi pledge", "who hosted the summit"]
    vectors = {
        "how much did xi pledge": [1.0, 0.0],
        "what amount did xi pledge": [0.9, 0.436],
        "who hosted the summit": [0.0, 1.0],
    }

    def embed(batch):
        import numpy as np

        return np.array([vectors[t.lower()] for t in batch], dtype="float32")

    rows = [asked(n, t, answer=t.upper()) for n, t in enumerate(texts)]
    groups = group_questions(rows, embed)
    assert [(g.question, g.count) for g in groups] == [
        ("how much did xi pledge", 2),
        ("who hosted the summit", 1),
    ]
    assert groups[0].answer == "WHAT AMOUNT DID XI PLEDGE"  # the latest answer


@pytest.mark.model
def test_the_real_model_groups_rephrasings_and_keeps_different_questions_apart(real_index):
    rows = [
        asked(n, q)
        for n, q in enumerate(
            [
                "How much did Xi pledge?",
                "what amount did Xi pledge",
                "Where was the summit held?",
                "Which city hosted the summit?",
                "How much money did China promise Central Asia?",
            ]
        )
    ]
    groups = group_questions(rows, real_index.embedder.embed)
    assert sorted(sorted(g.wordings) for g in groups) == sorted(
        [
            ["How much did Xi pledge?", "what amount did Xi pledge"],
            ["Where was the summit held?", "Which city hosted the summit?"],
            ["How much money did China promise Central Asia?"],
        ]
    )
    # With real embeddings the article's lede is among its key points.
    snapshot = real_index.snapshot()
    points = key_points(snapshot, ARTICLE)
    assert points[0].paragraph == 1 and points[0].text.startswith("China's president Xi Jinping")


# --- rendering -----------------------------------------------------------------------------------

HOSTILE = "@everyone <!channel> <@U999> **bold** who is <@123456789012345678>?"


def sample(documents: int = 1, points: int = 4, questions: int = 3) -> Digest:
    text = "The pledge was repeated at length in the closing session of the summit & beyond."
    docs = tuple(
        NewDocument(
            f"doc-{n}",
            f"Document {n} <!here>",
            f"/data/doc-{n}.md",
            None,
            f"h{n}",
            tuple(KeyPoint(text, p + 1, 0, len(text)) for p in range(points)),
        )
        for n in range(documents)
    )
    groups = tuple(
        QuestionGroup(f"{HOSTILE} {n}", 3, True, "Rmb26bn ($3.7bn)") for n in range(questions)
    )
    refused = tuple(replace(g, answered=False, answer="") for g in groups)
    return Digest(
        since=NOW - timedelta(days=1),
        until=NOW,
        zone=ZoneInfo("Europe/London"),
        documents=docs,
        asked=9,
        answered=6,
        top_questions=groups,
        unanswered=refused,
        refused=3,
        thumbs_up=4,
        thumbs_down=1,
    )


def slack_texts(message) -> str:
    parts = [message["text"]]
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def test_slack_rendering_escapes_questions_and_keeps_to_block_kit_limits():
    message = slack_message(sample())
    assert validate_blocks(message["blocks"]) == []
    text = slack_texts(message)
    assert "<!channel>" not in text and "<@U999>" not in text and "<!here>" not in text
    assert "@\u200beveryone" in text and "&lt;!channel&gt;" in text
    point = "the closing session of the summit &amp; beyond.” _(paragraph 1)_"
    assert f"“The pledge was repeated at length in {point}" in text

    big = slack_message(sample(documents=60, points=5, questions=40))
    assert validate_blocks(big["blocks"]) == [] and len(big["blocks"]) <= 50
    assert "…and 17 more new documents" in slack_texts(big)


def test_discord_rendering_escapes_questions_and_keeps_to_embed_limits():
    rendered = discord_message(sample())
    [embed] = rendered.embeds
    everything = "\n".join(
        [embed.title, embed.description, embed.footer.text]
        + [f.name + f.value for f in embed.fields]
        + [rendered.plain]
    )
    assert "@everyone" not in everything and "<@123456789012345678>" not in everything
    assert "\\*\\*bold\\*\\*" in everything  # markdown shown, not applied

    big = discord_message(sample(documents=60, points=5, questions=40))
    [embed] = big.embeds
    assert len(embed) <= EMBEDS_TOTAL_LIMIT and len(embed.description) <= DESCRIPTION_LIMIT
    assert all(len(f.value) <= FIELD_VALUE_LIMIT for f in embed.fields)
    assert re.search(r"…and \d+ more new documents", embed.description)
    assert len(big.plain) <= CONTENT_LIMIT
    # Documents are dropped whole: every point shown is a whole sentence with its paragraph.
    assert embed.description.count("“The pledge") == embed.description.count("(paragraph ")


def test_console_rendering_of_a_quiet_digest():
    quiet = Digest(since=NOW - timedelta(days=1), until=NOW)
    text = console_digest(quiet)
    assert text.startswith("CiteBot digest — Tuesday 3 March 2026")
    assert "Nothing new since Mon 2 Mar 09:00 (UTC)" in text
    assert slack_message(quiet)["text"] == "CiteBot digest for Tuesday 3 March 2026: nothing new."
