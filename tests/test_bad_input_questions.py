"""Odd questions get a sensible answer or a clear message, and the reply pings nobody.

Named cases go through the real Slack app over HTTP (signed events in, the fake Web API records
what went out); the property test feeds the index any text at all.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from index.errors import QuestionError
from index.questions import visible_text
from tests.test_render_fuzz import HOSTILE, assert_slack_message_is_safe
from tests.test_slack_app import fake, make_slack, settings, slack, state  # noqa: F401 (fixtures)

MASS_MENTIONS = (
    "@everyone @here <!channel> <!here> <!everyone> <!subteam^S1> <!subteam^S2|@oncall> "
    "<@U123> <@U123|ada> <@&456> <@!789> <@12345678901234567>"
)

# name: (text after "<@UBOT> ", what the reply must say)
QUESTIONS = {
    "empty": ("", "What would you like to know?"),
    "whitespace": (" \t \u00a0\u3000 ", "What would you like to know?"),
    "only the mention": ("<@UBOT>", "What would you like to know?"),
    "only emoji": ("🙂 👍🏽 🇨🇳", ""),
    "100k characters": ("why " * 25_000, "please keep it under 2,000"),
    "control characters": ("Rmb26bn\x00\x07\x1b[31m financing\x7f support\u202e?", ""),
    "right to left": ("כמה כסף הבטיח שי? كم تعهد شي؟ Rmb26bn", ""),
    "code block": ("```\nRmb26bn financing support\n```", ""),
    "markdown against the quote": ("> *Rmb26bn* _financing_ ~support~ ```` ` &lt;!channel&gt; &amp;", ""),
    "mass mentions": (MASS_MENTIONS + " Rmb26bn financing support", ""),
    "only mentions": (MASS_MENTIONS, ""),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(QUESTIONS))
async def test_each_odd_question_gets_one_safe_reply_in_slack(slack, name):
    text, expected = QUESTIONS[name]
    ts = await slack.mention(text)
    [post] = await slack.posts()
    assert post["thread_ts"] == ts
    message = {"text": post["text"], "blocks": post.get("blocks") or []}
    assert_slack_message_is_safe(message)
    assert expected in post["text"]
    assert not post["text"].startswith("Sorry, something went wrong"), post["text"]
    await slack.quiet("chat.postMessage", 1, seconds=0.1)


any_question = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=10)), max_size=20).map("".join),
    st.integers(1990, 2100).map(lambda n: "x" * n),
)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(question=any_question)
def test_any_text_is_answered_from_the_documents_or_refused_with_a_reason(fake_index, question):
    try:
        answer = fake_index.ask(question)
    except QuestionError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 200
        # Refused only when nothing visible is left, or it is too long.
        visible = " ".join(visible_text(question).split())
        assert not visible or len(visible) > 2000
        return
    assert answer.citations, "even a refusal shows the closest passage"
    documents = {d.doc_id: d for d in fake_index.documents()}
    for citation in answer.citations:
        document = documents[citation.document]
        # Paragraph 0 is the byline: its offsets are into what ingest kept about the document.
        source = document.text if citation.paragraph else document.byline()
        assert source[citation.start : citation.end] == citation.quote
    if answer.answered:
        assert answer.answer.strip()


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_each_odd_question_renders_safely_for_discord_and_the_console(fake_index, name):
    from bot import render as console
    from bot.discord import render as discord_render
    from tests.test_render_fuzz import DISCORD_MENTION, assert_discord_message_is_safe

    text = QUESTIONS[name][0]
    try:
        answer = fake_index.ask(text)
    except QuestionError as exc:
        notice = discord_render.notice(str(exc))
        assert notice.plain and not DISCORD_MENTION.search(notice.plain)
        return
    assert_discord_message_is_safe(discord_render.answer_message(answer))
    assert answer.best.quote in console.render_answer(answer)
