"""Slack text in and out, Block Kit within limits, and the manifest matching the app."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.slack import render
from bot.slack.documents import ADD_SHORTCUT_ID
from bot.slack.listeners import SHORTCUT_ID, parse_ask
from bot.slack.text import ZERO_WIDTH_SPACE as ZWSP
from bot.slack.text import echo, escape, looks_like_question, strip_mention, to_plain
from index.models import Answer, Citation
from tests.fakes.slack_api import validate_blocks

ROOT = Path(__file__).resolve().parent.parent


def _citation(**kw) -> Citation:
    base = {
        "document": "d",
        "title": "Title",
        "source": "s",
        "paragraph": 3,
        "quote": "The quote.",
        "score": 0.5,
    }
    return Citation(**{**base, **kw})


# --- text ----------------------------------------------------------------------------------------


def test_slack_markup_becomes_what_a_person_reads():
    text = "<@U1|ada> and <@U2> in <#C1|general>: <!here> <!subteam^S1|@eng> <https://x.org/a|the report> &amp; 3 &lt; 4"
    assert to_plain(text) == "@ada and @U2 in #general: @here @eng the report & 3 < 4"
    assert (
        to_plain("<!subteam^S9> <!date^1392734382^{date}|Feb 18> <mailto:a@b.c|a@b.c>")
        == "@S9 Feb 18 a@b.c"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<@U1|bob>",
        "<!subteam^S1|@eng>",
        "<!subteam^S1>",
    ],
)
def test_echo_neutralises_every_kind_of_mention(raw):
    out = echo(f"hi {raw}!")
    assert "<" not in out and ">" not in out
    assert f"@{ZWSP}" in out


def test_escape_keeps_text_readable_and_inert():
    assert escape("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert escape("@channel please") == f"@{ZWSP}channel please"
    assert escape("mail ada@example.com") == "mail ada@example.com"  # an address is not a mention


def test_strip_mention_removes_only_the_bot():
    assert strip_mention("<@UBOT> what about <@U2>?", "UBOT") == "what about <@U2>?"
    assert strip_mention("<@UBOT|citebot> hi", "UBOT") == "hi"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("and when was that?", True),
        ("so how much did he pledge", True),
        ("Who signed it", True),
        ("thanks, that helps", False),
        ("great", False),
        ("", False),
    ],
)
def test_looks_like_question(text, expected):
    assert looks_like_question(text) is expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("what is X", ("what is X", False)),
        ("what is X --share", ("what is X", True)),
        ("--SHARE what is X", ("what is X", True)),
        ("what does --share mean", ("what does --share mean", False)),
        ("--share", ("", True)),
        ("", ("", False)),
    ],
)
def test_parse_ask(text, expected):
    assert parse_ask(text) == expected


# --- cutting -------------------------------------------------------------------------------------


def test_cut_sentences_keeps_whole_sentences():
    text = "First sentence here. Second one is longer than the first. Third."
    assert render.cut_sentences(text, 100) == text
    assert render.cut_sentences(text, 40) == "First sentence here. …"
    assert render.cut_sentences("one enormous sentence without any stop " * 10, 50).endswith("…")
    assert len(render.cut_sentences("word " * 1000, 50)) <= 50


def test_fit_accounts_for_escaping():
    raw = "&" * 5000
    out = render.fit(lambda s: f"*{s}*", raw, 3000, render.cut_words)
    assert len(out) <= 3000 and out.startswith("*&amp;")


# --- messages ------------------------------------------------------------------------------------


def test_answer_message_blocks_and_fallback():
    answer = Answer("q?", True, "Rmb26bn", [_citation(url="https://example.com/a?b=1&c=2")])
    message = render.answer_message(answer, 7)
    assert validate_blocks(message["blocks"]) == []
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert texts == ["*Rmb26bn*", "> “The quote.”"]
    [source] = [b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"]
    assert source == "_Title_, paragraph 3 · <https://example.com/a?b=1&amp;c=2|open the document>"
    assert message["text"] == "Rmb26bn — “The quote.” (Title, paragraph 3)"
    assert [e["value"] for e in message["blocks"][-1]["elements"]] == ["7", "7"]


def test_refusal_shows_the_closest_passage_and_no_buttons_without_a_record():
    message = render.answer_message(
        Answer("q?", False, "", [_citation()], refusal="not_in_documents"), None
    )
    first = message["blocks"][0]["text"]["text"]
    assert first == "That isn't in the documents. The closest passage, which does not answer it:"
    assert "> “The quote.”" in [b.get("text", {}).get("text") for b in message["blocks"]]
    assert all(b["type"] != "actions" for b in message["blocks"])
    assert message["text"].startswith("That isn't in the documents. Closest passage: “The quote.”")

    empty = render.answer_message(Answer("q?", False, "", [], refusal="empty_index"), 1)
    assert "don't have any documents" in empty["text"] and validate_blocks(empty["blocks"]) == []


def test_multi_line_quotes_stay_inside_the_quote_block():
    message = render.answer_message(
        Answer("q?", True, "x", [_citation(quote="line one\nline two")]), None
    )
    assert "> “line one\n> line two”" in [b.get("text", {}).get("text") for b in message["blocks"]]


def test_documents_cannot_smuggle_markup_into_the_answer():
    evil = _citation(
        quote="Ping <!channel> and <@U1>", title="<!here> title", url="javascript:alert(1)"
    )
    message = render.answer_message(Answer("q?", True, "<!everyone>", [evil]), 1)
    wire = str(message)
    assert "<!" not in wire and "<@" not in wire and "javascript" not in wire


def test_a_link_that_grows_past_the_limit_when_encoded_is_left_out_not_cut():
    # Found by the renderer fuzz: 1,640 characters that encode to 2,540, which the block's
    # length limit then cut inside the <url|label> markup.
    url = "https://example.com/" + "@channel\x80" * 180
    message = render.answer_message(Answer("q?", True, "x", [_citation(url=url)]), 1)
    wire = str(message)
    assert "example.com" not in wire and "Title" in wire
    assert render.safe_url("https://example.com/" + "\x80" * 300) is not None  # 1,820 encoded


def test_with_thanks_replaces_the_previous_thanks_line():
    blocks = render.answer_message(Answer("q?", True, "x", [_citation()]), 3)["blocks"]
    once = render.with_thanks(blocks, 1, 0)
    twice = render.with_thanks(once, 2, 1)
    thanks = [b for b in twice if b.get("block_id") == render.THANKS_BLOCK]
    assert (
        len(thanks) == 1
        and thanks[0]["elements"][0]["text"] == "Thanks for the feedback! 👍 2 · 👎 1"
    )
    assert (
        twice.index(thanks[0]) == next(i for i, b in enumerate(twice) if b["type"] == "actions") + 1
    )


def test_long_notices_are_cut_at_a_line():
    message = render.notice("\n".join(f"• item {n}" for n in range(1000)))
    assert len(message["blocks"][0]["text"]["text"]) <= render.SECTION_LIMIT
    assert message["text"].endswith("\n…") and validate_blocks(message["blocks"]) == []


# --- manifest ------------------------------------------------------------------------------------


def test_manifest_matches_what_the_app_listens_for():
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {"/ask", "/sources", "/citebot", "/digest", "/add", "/forget", "/collection"}
    shortcut, add = manifest["features"]["shortcuts"]
    assert add["callback_id"] == ADD_SHORTCUT_ID and add["type"] == "message"
    assert shortcut == {
        **shortcut,
        "type": "message",
        "callback_id": SHORTCUT_ID,
        "name": "Ask CiteBot about this",
    }
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "assistant_thread_started",
        "assistant_thread_context_changed",
    }
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "chat:write",
        "commands",
        "users:read",
        "files:read",
        "assistant:write",
    }
    assert manifest["features"]["app_home"]["messages_tab_enabled"]  # people can DM it
    # The assistant pane: its view; the prompts are CiteBot's own, set per thread.
    assistant = manifest["features"]["assistant_view"]
    assert assistant["assistant_description"] and assistant["suggested_prompts"] == []
