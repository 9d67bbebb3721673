"""Every renderer, fed 10,000 generated answers, stays inside its platform's limits and pings no one.

Answers are built straight from ``index.models`` so that the text is hostile in ways a real
document rarely is: mass mentions in every Slack and Discord spelling, markdown that tries to
close the quote, Slack's own ``&lt;`` escapes, control characters, right-to-left text and
passages far longer than any limit.
"""

from __future__ import annotations

import json
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import render as console
from bot.discord import render as discord_render
from bot.slack import render as slack_render
from index.models import Answer, Citation

FUZZ = settings(
    # CI runs the full 10,000 per renderer; a developer's run keeps to a tenth for speed.
    max_examples=10_000 if os.environ.get("CI") else 1_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ZWSP = "\u200b"

HOSTILE = [
    "@everyone", "@here", "@channel", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S1>", "<!subteam^S1|@team>", "<@U123>", "<@U123|ada>", "<@UBOT>", "<#C1>",
    "<@123>", "<@!123>", "<@&456>", "<@12345678901234567>", "<@!12345678901234567>",
    "<@&12345678901234567>", "&lt;!channel&gt;", "&lt;@U1&gt;", "&amp;", "```", "`", "> ",
    "\n> ", ">>> ", "*", "_", "~", "|", "||", "\\", "[x](https://evil.example)", "<https://x|y>",
    "\u202e", "\u200f", "שלום", "مرحبا", "\x00", "\x1b[31m", "\r\n", "\t", "🙂", "👍🏽", ". ", "? ",
    "\n\n", "…", "&", "<", ">", "@", "#",
]
# Long runs come from repeating a piece rather than from huge draws, so shrinking stays fast.
WORDS = ["Rmb26bn", "($3.7bn)", "Xi", "summit", "Dr.", "U.S.", "the", "a", "pledged", "“", "”", " ", " "]
# Mostly whole tokens: drawing them is far cheaper than drawing free text, which keeps 10,000
# examples within seconds; single arbitrary characters still reach the odd corners of Unicode.
piece = st.one_of(st.sampled_from(HOSTILE + WORDS), st.characters())
hostile_text = st.one_of(
    st.lists(piece, max_size=6).map("".join),
    st.tuples(st.lists(piece, min_size=1, max_size=3).map("".join), st.integers(1, 700)).map(
        lambda pair: pair[0] * pair[1]
    ),
)
# The answerer only quotes stripped, non-empty sentences.
quotes = hostile_text.map(lambda text: text if text.strip() else "Rmb26bn" + text)
titles = st.one_of(
    st.sampled_from(["Report", "<!channel> *Report* <@U1>", "@everyone " * 40, "T" * 400, ""]),
    hostile_text,
)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        ["https://example.com/a?b=1&c=<2>|x", "http://x.test/(a) b", "/tmp/local.md",
         "javascript:alert(1)", "https://x.test/@everyone/<!here>"]
    ),
    st.builds(lambda t: "https://example.com/" + t, hostile_text),
)


@st.composite
def citations(draw) -> Citation:
    quote = draw(quotes)
    start = 1000
    return Citation(
        document="doc",
        title=draw(titles),
        source="/docs/a.md",
        paragraph=draw(st.sampled_from([1, 7, 10_000])),
        quote=quote,
        score=0.5,
        url=draw(urls),
        start=start,
        end=start + len(quote),
        clipped_start=draw(st.booleans()),
        clipped_end=draw(st.booleans()),
    )


# Many citations are copies of a few, which is as hard on the limits and much cheaper to draw.
citation_lists = st.one_of(
    st.lists(citations(), max_size=2),
    st.tuples(st.lists(citations(), min_size=1, max_size=2), st.integers(1, 15)).map(
        lambda pair: pair[0] * pair[1]
    ),
)


@st.composite
def answers(draw) -> Answer:
    answered = draw(st.booleans())
    found = draw(citation_lists)
    if answered and not found:  # the answerer never answers without a passage to quote
        found = [draw(citations())]
    return Answer(
        question=draw(hostile_text),
        answered=answered,
        answer=draw(hostile_text) if answered else "",
        citations=found,
        refusal=None if answered else draw(st.sampled_from(["not_in_documents", "empty_index"])),
    )


# --------------------------------------------------------------------------- Slack

# Slack acts on <!…> and <@…> (and <#…>, which at least links); link targets are ours.
SLACK_LIVE_MARKUP = re.compile(r"<[!@#]")
SLACK_LINK = re.compile(r"<https?://[^|<>\s]*\|")
SLACK_BARE = re.compile(r"(?<![\w.])@(everyone|here|channel)\b")


def slack_texts(message: dict) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                texts.append(element["text"])
    return texts


def assert_slack_message_is_safe(message: dict) -> None:
    assert message["text"].strip(), "every Slack message needs its plain-text fallback"
    assert len(message["text"]) <= slack_render.FALLBACK_LIMIT
    assert len(message["blocks"]) <= slack_render.MAX_BLOCKS
    for text in slack_texts(message):
        assert len(text) <= slack_render.SECTION_LIMIT
        shown = SLACK_LINK.sub("<", text)
        assert not SLACK_LIVE_MARKUP.search(shown), text[:300]
        assert not SLACK_BARE.search(shown), text[:300]
    json.dumps(message)  # what the Web API client will send


@FUZZ
@given(answers(), st.one_of(st.none(), st.integers(1, 2**31)), st.one_of(st.none(), hostile_text))
def test_slack_answer_message_within_limits_and_pings_nobody(answer, question_id, asked):
    message = slack_render.answer_message(answer, question_id, asked=asked)
    assert_slack_message_is_safe(message)
    if question_id is not None:
        assert any(b.get("block_id") == slack_render.FEEDBACK_BLOCK for b in message["blocks"])


# --------------------------------------------------------------------------- Discord

# What Discord parses as a mention: @everyone/@here anywhere, <@id>, <@!id>, <@&id>.
DISCORD_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>")
DISCORD_LINK_TARGET = re.compile(r"\]\(https?://[^()\s]*\)")


def discord_texts(rendered: discord_render.Rendered) -> list[str]:
    texts = [rendered.plain, rendered.content or ""]
    for embed in rendered.embeds:
        texts += [embed.title or "", embed.description or ""]
        texts += [t for f in embed.fields for t in (f.name, f.value)]
    return texts


def assert_discord_message_is_safe(rendered: discord_render.Rendered) -> None:
    assert rendered.plain.strip()
    assert len(rendered.plain) <= discord_render.CONTENT_LIMIT
    assert len(rendered.content or "") <= discord_render.CONTENT_LIMIT
    assert len(rendered.embeds) <= 10
    for embed in rendered.embeds:
        assert len(embed.title or "") <= discord_render.TITLE_LIMIT
        assert len(embed.description or "") <= discord_render.DESCRIPTION_LIMIT
        assert len(embed.fields) <= discord_render.MAX_FIELDS
        for embed_field in embed.fields:
            assert 0 < len(embed_field.name) <= discord_render.FIELD_NAME_LIMIT
            assert 0 < len(embed_field.value) <= discord_render.FIELD_VALUE_LIMIT
    assert sum(len(e) for e in rendered.embeds) <= discord_render.EMBEDS_TOTAL_LIMIT
    for text in discord_texts(rendered):
        # A masked link's target is a URL, never parsed for mentions.
        shown = DISCORD_LINK_TARGET.sub("]()", text)
        assert not DISCORD_MENTION.search(shown), text[:300]


@FUZZ
@given(answers())
def test_discord_answer_message_within_limits_and_pings_nobody(answer):
    assert_discord_message_is_safe(discord_render.answer_message(answer))


@FUZZ
@given(hostile_text)
def test_discord_notices_ping_nobody(text):
    rendered = discord_render.notice(text)
    assert len(rendered.plain) <= discord_render.CONTENT_LIMIT
    assert not DISCORD_MENTION.search(rendered.plain), rendered.plain[:300]


# --------------------------------------------------------------------------- console


@FUZZ
@given(answers())
def test_console_renders_every_answer_with_its_quote(answer):
    text = console.render_answer(answer)
    assert isinstance(text, str)
    if answer.best is not None and answer.best.quote.strip():
        assert answer.best.quote.strip() in text
