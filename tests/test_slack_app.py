"""The Slack app end to end over HTTP: the real bolt AsyncApp behind the bot's aiohttp route,
signed requests in, and assertions on what went over the wire to a local fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.service import AnswerService, Question, Reply
from bot.settings import Settings
from bot.slack import render
from bot.slack.app import build_app
from bot.slack.http import add_slack_routes
from bot.slack.listeners import SHORTCUT_ID
from bot.state import StateStore, default_database_url
from bot.web import make_web_app
from index.models import Answer, Citation
from tests.fakes.slack_api import (
    FakeSlackWebAPI,
    app_mention_event,
    block_actions,
    block_actions_payload,
    event_callback,
    form_payload,
    message_event,
    message_shortcut_payload,
    sign_request,
    signed_json,
    slash_command_form,
    url_verification,
)

SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
QUESTION = "Rmb26bn financing support"  # the fake embedder finds paragraph 6 for this
ZWSP = "\u200b"


# --------------------------------------------------------------------------- harness


class Slack:
    """The app under test, reached only through its HTTP endpoint, plus the fake Web API."""

    def __init__(self, fake: FakeSlackWebAPI, http: TestClient, service: AnswerService):
        self.fake = fake
        self.http = http
        self.service = service
        self.state: StateStore = service.state
        self._ts = 1710000000

    def ts(self) -> str:
        self._ts += 1
        return f"{self._ts}.000100"

    async def post(self, body: bytes, headers: dict[str, str]):
        return await self.http.post("/slack/events", data=body, headers=headers)

    async def event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None
    ):
        body, headers = signed_json(
            event_callback(event, event_id=event_id), SECRET, retry_num=retry_num
        )
        response = await self.post(body, headers)
        assert response.status == 200, await response.text()
        return response

    async def mention(
        self, text: str, *, channel: str = "C1", user: str = "U1", thread_ts: str | None = None
    ):
        ts = self.ts()
        await self.event(app_mention_event(f"<@UBOT> {text}", channel, user, ts, thread_ts))
        return ts

    async def command(
        self, command: str, text: str, *, user: str = "U1", channel: str = "C1", name: str = "r"
    ):
        body = slash_command_form(command, text, user, channel, self.fake.response_url(name))
        return await self.post(body, sign_request(body, SECRET))

    async def interactive(self, body: bytes):
        response = await self.post(body, sign_request(body, SECRET))
        assert response.status == 200, await response.text()
        return response

    async def posts(self, count: int = 1) -> list[dict]:
        return await self.fake.wait_for("chat.postMessage", count, ok_only=True)

    async def responses(self, count: int = 1) -> list[dict]:
        return await self.fake.wait_for("response_url", count)

    async def quiet(self, method: str, count: int, seconds: float = 0.4) -> None:
        """Give a wrongly scheduled listener time to act, then check it did not."""
        await asyncio.sleep(seconds)
        assert len(self.fake.calls(method, ok_only=True)) == count, self.fake.calls(method)


def mrkdwn(message: dict) -> str:
    """Every text a message shows: its blocks' texts and the fallback."""
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def buttons(message: dict) -> list[dict]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
def fake():
    with FakeSlackWebAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
def settings(fake, isolated_home):
    return Settings(
        home=isolated_home,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.base_url,
        admin_ids=["UBOSS"],
    )


@pytest.fixture
def state(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    store = StateStore(default_database_url(isolated_home))
    yield store
    store.close()


@pytest_asyncio.fixture
async def make_slack(fake, settings, fake_index, state):
    """Start the app (with the given AnswerService class) behind a real local HTTP server."""
    clients: list[TestClient] = []

    async def start(service_class: type[AnswerService] = AnswerService, index=None) -> Slack:
        service = service_class(index or fake_index, state)
        web_app = make_web_app(lambda: True)
        add_slack_routes(web_app, build_app(settings, service))
        client = TestClient(TestServer(web_app))
        await client.start_server()
        clients.append(client)
        return Slack(fake, client, service)

    yield start
    for client in clients:
        await client.close()


@pytest_asyncio.fixture
async def slack(make_slack) -> Slack:
    return await make_slack()


# --------------------------------------------------------------------------- services for tests


class SlowService(AnswerService):
    """Answering that takes longer than Slack's 3-second ack deadline."""

    delay = 3.5

    async def ask(self, question: Question) -> Reply:
        await asyncio.sleep(self.delay)
        return await super().ask(question)


class BrokenService(AnswerService):
    async def ask(self, question: Question) -> Reply:
        raise RuntimeError("the index fell over")


class VerboseService(AnswerService):
    """Records the question as usual, then returns an answer far beyond Slack's limits."""

    async def ask(self, question: Question) -> Reply:
        reply = await super().ask(question)
        sentence = "The pledge was repeated at length in the closing session of the summit. "
        citation = Citation(
            document="long",
            title="A very long title " * 40,
            source="/tmp/long.md",
            paragraph=12,
            quote=sentence * 300,
            score=0.9,
            url="https://example.com/report?a=1&b=<2>|x",
        )
        more = [Citation(**{**citation.__dict__, "paragraph": n}) for n in range(60)]
        reply.answer = Answer(
            question.text, True, "A short answer & more " * 300, [citation, *more]
        )
        return reply


# --------------------------------------------------------------------------- mentions, DMs, threads


@pytest.mark.asyncio
async def test_mention_is_answered_in_its_thread_with_quote_source_and_buttons(slack):
    ts = await slack.mention(QUESTION + "?")
    [post] = await slack.posts()

    assert post["channel"] == "C1" and post["thread_ts"] == ts
    shown = mrkdwn(post)
    assert "Rmb26bn ($3.7bn)" in shown
    [quote] = [
        b["text"]["text"]
        for b in post["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith(">")
    ]
    assert "Beijing would provide Rmb26bn" in quote
    assert "_Xi Jinping pushes Central Asian defence co-operation plan_, paragraph 6" in shown
    assert "Rmb26bn" in post["text"] and "paragraph 6" in post["text"]  # the plain fallback

    [record] = _questions(slack.state)
    assert record["thread"] == ts and record["channel"] == "C1" and record["paragraph"] == 6
    assert [b["action_id"] for b in buttons(post)] == [render.VOTE_UP, render.VOTE_DOWN]
    assert {b["value"] for b in buttons(post)} == {str(record["id"])}


@pytest.mark.asyncio
async def test_direct_message_is_answered_in_the_dm(slack):
    await slack.event(message_event(QUESTION, "D1", "U1", slack.ts(), "im"))
    [post] = await slack.posts()
    assert post["channel"] == "D1" and "thread_ts" not in post
    assert "paragraph 6" in mrkdwn(post)


@pytest.mark.asyncio
async def test_thread_follow_up_needs_no_mention_and_uses_the_earlier_question(slack):
    root = await slack.mention(QUESTION)
    await slack.posts(1)

    await slack.event(message_event("and when was that?", "C1", "U2", slack.ts(), thread_ts=root))
    [_, follow_up] = await slack.posts(2)
    assert follow_up["thread_ts"] == root
    # The thread's question steers it to paragraph 6; asked afresh it lands elsewhere.
    assert "paragraph 6" in mrkdwn(follow_up)
    fresh = await slack.mention("and when was that?")
    [*_, control] = await slack.posts(3)
    assert control["thread_ts"] == fresh and "paragraph 6" not in mrkdwn(control)

    # Chit-chat in that thread, and questions in threads CiteBot never answered, get nothing.
    await slack.event(message_event("thanks, that helps", "C1", "U2", slack.ts(), thread_ts=root))
    await slack.event(
        message_event("what about this one?", "C1", "U2", slack.ts(), thread_ts="1700000000.000001")
    )
    await slack.quiet("chat.postMessage", 3)


@pytest.mark.asyncio
async def test_a_mention_arriving_also_as_a_channel_message_is_answered_once(slack):
    ts = slack.ts()
    text = f"<@UBOT> {QUESTION}?"
    await slack.event(app_mention_event(text, "C1", "U1", ts))
    await slack.event(message_event(text, "C1", "U1", ts))
    await slack.posts(1)
    await slack.quiet("chat.postMessage", 1)


@pytest.mark.asyncio
async def test_channel_questions_need_a_mention_until_an_admin_turns_on_answer_all(slack):
    await slack.event(
        message_event("how much financing support was pledged?", "C1", "U1", slack.ts())
    )
    await slack.quiet("chat.postMessage", 0)

    response = await slack.command("/citebot", "answer-all on", user="UBOSS")
    assert response.status == 200
    [reply] = await slack.responses()
    assert (
        "answer every question in this channel" in mrkdwn(reply)
        and reply["response_type"] == "ephemeral"
    )
    assert slack.state.answer_all("slack", "C1")

    ts = slack.ts()
    await slack.event(message_event("how much financing support was pledged?", "C1", "U1", ts))
    [post] = await slack.posts()
    assert post["thread_ts"] == ts and "paragraph 6" in mrkdwn(post)


@pytest.mark.asyncio
async def test_answer_all_is_refused_to_non_admins_and_allowed_to_workspace_admins(slack):
    slack.fake.set_user("UADMIN", is_admin=True)
    await slack.command("/citebot", "answer-all on", user="U2", name="member")
    [refusal] = await slack.responses()
    assert "Only workspace admins and owners" in mrkdwn(refusal)
    assert not slack.state.answer_all("slack", "C1")
    assert slack.fake.calls("users.info")[0]["user"] == "U2"

    await slack.command("/citebot", "answer-all on", user="UADMIN", name="admin")
    [_, accepted] = await slack.responses(2)
    assert "answer every question" in mrkdwn(accepted)
    assert slack.state.answer_all("slack", "C1")

    await slack.command("/citebot", "answer-all", user="U2", name="status")  # anyone may ask
    [*_, status] = await slack.responses(3)
    assert "This channel is set to answer every question" in mrkdwn(status)


# --------------------------------------------------------------------------- slash commands


@pytest.mark.asyncio
async def test_ask_is_acknowledged_at_once_while_a_slow_answer_follows(make_slack):
    slack = await make_slack(SlowService)
    started = time.monotonic()
    response = await slack.command("/ask", QUESTION)
    acked_after = time.monotonic() - started

    assert response.status == 200
    assert acked_after < 1.5, f"ack took {acked_after:.2f}s"
    assert slack.fake.calls("response_url") == []  # the answer is still being worked out

    [answer] = await slack.responses()
    assert time.monotonic() - started >= SlowService.delay
    assert answer["response_type"] == "ephemeral" and "paragraph 6" in mrkdwn(answer)
    assert f"Question: “{QUESTION}”" in mrkdwn(answer)


@pytest.mark.asyncio
async def test_ask_is_private_unless_shared(slack):
    await slack.command("/ask", QUESTION, name="private")
    await slack.command("/ask", f"{QUESTION} --share", name="shared")
    await slack.responses(2)
    by_path = {r.path: r.body for r in slack.fake.requests_for("response_url")}
    assert by_path["/response/private"]["response_type"] == "ephemeral"
    assert by_path["/response/shared"]["response_type"] == "in_channel"
    assert "--share" not in mrkdwn(by_path["/response/shared"])
    assert "paragraph 6" in mrkdwn(by_path["/response/shared"])


@pytest.mark.asyncio
async def test_empty_ask_gets_usage_in_the_ack(slack):
    for text in ("", "   ", "--share"):
        response = await slack.command("/ask", text)
        assert response.status == 200
        ack = await response.json()
        assert ack["response_type"] == "ephemeral" and "Usage: `/ask QUESTION`" in mrkdwn(ack)
    await slack.quiet("response_url", 0, seconds=0.2)
    assert _questions(slack.state) == []


@pytest.mark.asyncio
async def test_ask_text_containing_the_word_payload_is_still_a_command(slack):
    # bolt parses any form body containing "payload" as interactivity; the adapter repairs it.
    response = await slack.command("/ask", "what payload of Rmb26bn financing support")
    assert response.status == 200
    [answer] = await slack.responses()
    assert "Question: “what payload of Rmb26bn financing support”" in mrkdwn(answer)


@pytest.mark.asyncio
async def test_too_long_question_gets_the_reason_privately_even_with_share(slack):
    await slack.command("/ask", "why " * 600 + "--share")
    [reply] = await slack.responses()
    assert reply["response_type"] == "ephemeral"
    assert (
        "2,000" in mrkdwn(reply) or "2000" in mrkdwn(reply) or "too long" in mrkdwn(reply).lower()
    )


@pytest.mark.asyncio
async def test_sources_and_help(slack):
    await slack.command("/sources", "")
    [sources] = await slack.responses()
    assert "1 document indexed" in mrkdwn(sources)
    assert "Xi Jinping pushes Central Asian defence co-operation plan" in mrkdwn(sources)

    for text in ("help", ""):
        ack = await (await slack.command("/citebot", text)).json()
        assert "/ask QUESTION" in mrkdwn(ack) and "answer-all on|off" in mrkdwn(ack)
    ack = await (await slack.command("/citebot", "frobnicate <!channel>")).json()
    assert "I don't know `frobnicate`" in mrkdwn(ack) and "/sources" in mrkdwn(ack)


# --------------------------------------------------------------------------- shortcut and feedback


@pytest.mark.asyncio
async def test_shortcut_answers_the_selected_message_in_its_thread(slack):
    selected = {
        "type": "message",
        "user": "U2",
        "text": f"does anyone know about {QUESTION}?",
        "ts": slack.ts(),
    }
    await slack.interactive(
        message_shortcut_payload(SHORTCUT_ID, selected, "U1", "C1", slack.fake.response_url("s"))
    )

    [post] = await slack.posts()
    assert post["channel"] == "C1" and post["thread_ts"] == selected["ts"]
    assert f"Question: “does anyone know about {QUESTION}?”" in mrkdwn(post)
    assert "paragraph 6" in mrkdwn(post)
    assert slack.fake.calls("response_url") == []


@pytest.mark.asyncio
async def test_shortcut_where_the_bot_is_not_a_member_answers_privately(slack):
    slack.fake.fail_next(
        "chat.postMessage", status=200, body={"ok": False, "error": "not_in_channel"}
    )
    selected = {"type": "message", "user": "U2", "text": QUESTION, "ts": slack.ts()}
    await slack.interactive(
        message_shortcut_payload(SHORTCUT_ID, selected, "U1", "C9", slack.fake.response_url("s"))
    )

    [reply] = await slack.responses()
    assert reply["response_type"] == "ephemeral"
    assert "paragraph 6" in mrkdwn(reply) and "/invite @CiteBot" in mrkdwn(reply)
    await slack.quiet("chat.postMessage", 0)


@pytest.mark.asyncio
async def test_feedback_is_stored_thanked_and_counted_once_per_user(slack):
    await slack.mention(QUESTION)
    await slack.posts()
    [posted] = slack.fake.posted_messages("C1")
    [record] = _questions(slack.state)
    value = str(record["id"])

    def click(action_id: str, user: str) -> bytes:
        return block_actions_payload(
            action_id,
            value,
            user,
            "C1",
            posted["ts"],
            slack.fake.response_url("vote"),
            message=slack.fake.posted_messages("C1")[0],
            block_id=render.FEEDBACK_BLOCK,
        )

    await slack.interactive(click(render.VOTE_UP, "U1"))
    await slack.interactive(click(render.VOTE_UP, "U1"))  # the same person again: no double count
    updates = await slack.fake.wait_for("chat.update", 2, ok_only=True)
    assert slack.state.votes(record["id"]) == (1, 0)
    assert "Thanks for the feedback! 👍 1 · 👎 0" in mrkdwn(updates[-1])
    assert updates[-1]["ts"] == posted["ts"] and updates[-1]["channel"] == "C1"

    await slack.interactive(click(render.VOTE_DOWN, "U2"))
    await slack.fake.wait_for("chat.update", 3, ok_only=True)
    assert slack.state.votes(record["id"]) == (1, 1)
    [shown] = slack.fake.posted_messages("C1")
    text = mrkdwn(shown)
    assert text.count("Thanks for the feedback") == 1 and "👍 1 · 👎 1" in text
    assert len(buttons(shown)) == 2  # others can still vote
    assert "paragraph 6" in text  # the answer itself is kept


@pytest.mark.asyncio
async def test_feedback_on_a_private_answer_is_thanked_privately(slack):
    await slack.command("/ask", QUESTION, name="ask")
    [answer] = await slack.responses()
    value = buttons(answer)[0]["value"]
    click = block_actions(
        render.VOTE_DOWN, value, "U1", "C1", "1710000000.000800", slack.fake.response_url("vote")
    )
    click["container"]["is_ephemeral"] = True
    del click["message"]  # Slack sends no copy of an ephemeral message
    await slack.interactive(form_payload(click))

    [_, thanks] = await slack.responses(2)
    assert "Thanks for the feedback! 👍 0 · 👎 1" in mrkdwn(thanks)
    assert thanks["response_type"] == "ephemeral" and thanks["replace_original"] is False
    assert slack.state.votes(int(value)) == (0, 1) and slack.fake.calls("chat.update") == []


@pytest.mark.asyncio
async def test_a_vote_whose_tally_cannot_be_read_is_thanked_without_a_wrong_count(
    slack, monkeypatch
):
    await slack.command("/ask", QUESTION, name="ask")
    [answer] = await slack.responses()
    value = buttons(answer)[0]["value"]

    def store_down(question_id):
        raise ConnectionError("state store unreachable")

    monkeypatch.setattr(slack.state, "votes", store_down)
    click = block_actions(
        render.VOTE_UP, value, "U1", "C1", "1710000000.000850", slack.fake.response_url("vote")
    )
    click["container"]["is_ephemeral"] = True
    del click["message"]
    await slack.interactive(form_payload(click))
    [_, thanks] = await slack.responses(2)
    assert "Thanks for the feedback!" in mrkdwn(thanks) and "👍" not in mrkdwn(thanks)


@pytest.mark.asyncio
async def test_vote_on_an_unknown_answer_is_answered_not_ignored(slack):
    body = block_actions_payload(
        render.VOTE_UP, "99999", "U1", "C1", "1710000000.000900", slack.fake.response_url("v")
    )
    await slack.interactive(body)
    [reply] = await slack.responses()
    assert "couldn't record that vote" in mrkdwn(reply) and reply["replace_original"] is False


# --------------------------------------------------------------------------- delivery and safety


@pytest.mark.asyncio
async def test_a_retried_event_is_answered_once(slack):
    event = app_mention_event(f"<@UBOT> {QUESTION}", "C1", "U1", slack.ts())
    await slack.event(event, event_id="Ev0RETRY")
    await slack.posts(1)
    await slack.event(event, event_id="Ev0RETRY", retry_num=1)
    await slack.event(event, event_id="Ev0RETRY", retry_num=2)
    await slack.quiet("chat.postMessage", 1)
    assert len(_questions(slack.state)) == 1


@pytest.mark.asyncio
async def test_rate_limited_and_failing_posts_are_retried_until_they_land(slack):
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=0)
    await slack.mention(QUESTION)
    await slack.fake.wait_for("chat.postMessage", 2)
    attempts = slack.fake.requests_for("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[0].body["blocks"] == attempts[1].body["blocks"]

    slack.fake.fail_next("chat.postMessage", status=503)
    await slack.mention(QUESTION)
    await slack.fake.wait_for("chat.postMessage", 4)
    assert [a.status for a in slack.fake.requests_for("chat.postMessage")] == [429, 200, 503, 200]


@pytest.mark.asyncio
async def test_bad_or_stale_signatures_are_rejected_with_nothing_processed(slack):
    envelope = event_callback(
        app_mention_event(f"<@UBOT> {QUESTION}", "C1", "U1", slack.ts()), event_id="Ev0SIGNED"
    )
    body = json.dumps(envelope).encode()
    wrong = sign_request(body, "not-the-secret", content_type="application/json")
    stale = sign_request(
        body, SECRET, timestamp=int(time.time()) - 10 * 60, content_type="application/json"
    )
    unsigned = {"Content-Type": "application/json"}
    for headers in (wrong, stale, unsigned):
        response = await slack.post(body, headers)
        assert response.status == 401

    command = slash_command_form(
        "/citebot", "answer-all on", "UBOSS", "C1", slack.fake.response_url()
    )
    assert (await slack.post(command, sign_request(command, "not-the-secret"))).status == 401

    await asyncio.sleep(0.3)
    assert slack.fake.requests == []  # not even auth.test
    assert _questions(slack.state) == [] and not slack.state.answer_all("slack", "C1")
    # The rejected copies did not claim the event id: the genuine delivery is still answered.
    response = await slack.post(body, sign_request(body, SECRET, content_type="application/json"))
    assert response.status == 200
    await slack.posts(1)


@pytest.mark.asyncio
async def test_url_verification_challenge_is_answered(slack):
    body, headers = signed_json(url_verification("challenge-123"), SECRET)
    response = await slack.post(body, headers)
    assert response.status == 200 and (await response.json()) == {"challenge": "challenge-123"}


MENTIONS = (
    "<@U0ALICE> <@U0BOB|bob> <!channel> <!here> <!everyone> <!subteam^S0TEAM|@engineers> @here"
)


def _assert_pings_nobody(message: dict) -> None:
    wire = json.dumps(message, ensure_ascii=False)
    for markup in ("<@", "<!", "\\u003c@", "\\u003c!"):
        assert markup not in wire, f"{markup!r} in {wire[:400]}"
    for word in ("@here", "@channel", "@everyone", "@engineers", "@bob"):
        assert word in wire.replace(ZWSP, ""), word  # readable...
        assert word not in wire, word  # ...but never a live mention


@pytest.mark.asyncio
async def test_a_question_full_of_mentions_is_echoed_without_pinging(slack):
    await slack.command("/ask", f"{MENTIONS} {QUESTION} --share", name="ask")
    [shared] = await slack.responses()
    assert shared["response_type"] == "in_channel"
    assert f"@{ZWSP}channel @{ZWSP}here @{ZWSP}everyone @{ZWSP}engineers" in mrkdwn(shared)
    _assert_pings_nobody({k: shared[k] for k in ("text", "blocks")})

    selected = {
        "type": "message",
        "user": "U2",
        "text": f"{MENTIONS} {QUESTION}?",
        "ts": slack.ts(),
    }
    await slack.interactive(
        message_shortcut_payload(SHORTCUT_ID, selected, "U1", "C1", slack.fake.response_url("s"))
    )
    [post] = await slack.posts()
    assert "@" + ZWSP + "bob" in mrkdwn(post)
    _assert_pings_nobody({k: post[k] for k in ("text", "blocks")})


@pytest.mark.asyncio
async def test_an_over_long_answer_is_kept_within_slack_limits(make_slack):
    slack = await make_slack(VerboseService)
    await slack.mention(QUESTION)
    [post] = await slack.posts()  # ok_only: the fake enforces Block Kit limits like Slack

    assert len(post["blocks"]) <= render.MAX_BLOCKS
    for block in post["blocks"]:
        texts = (
            [block["text"]["text"]]
            if "text" in block
            else [e.get("text", "") for e in block.get("elements", [])]
        )
        for text in texts:
            if isinstance(text, str):
                assert len(text) <= render.SECTION_LIMIT
    assert len(post["text"]) <= render.FALLBACK_LIMIT
    [quote] = [
        b["text"]["text"]
        for b in post["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith(">")
    ]
    assert quote.endswith("summit. …”")  # whole sentences, then the ellipsis
    assert "open the document" in mrkdwn(post) and "<2>" not in json.dumps(post["blocks"])


@pytest.mark.asyncio
async def test_an_internal_error_is_an_apology_in_the_thread_and_a_log_line(make_slack, caplog):
    slack = await make_slack(BrokenService)
    with caplog.at_level(logging.ERROR, logger="citebot.slack"):
        ts = await slack.mention(QUESTION)
        [post] = await slack.posts()
    assert post["thread_ts"] == ts and post["text"].startswith("Sorry, something went wrong")
    [record] = [r for r in caplog.records if r.name == "citebot.slack"]
    assert record.exc_info and "the index fell over" in str(record.exc_info[1])


@pytest.mark.asyncio
async def test_a_rejected_answer_post_still_gets_an_apology(slack, caplog):
    slack.fake.fail_next(
        "chat.postMessage", status=200, body={"ok": False, "error": "invalid_blocks"}
    )
    with caplog.at_level(logging.ERROR, logger="citebot.slack"):
        ts = await slack.mention(QUESTION)
        posts = await slack.posts()
    assert posts[0]["thread_ts"] == ts and posts[0]["text"].startswith("Sorry")
    assert any("invalid_blocks" in r.getMessage() for r in caplog.records)


@pytest.mark.model
@pytest.mark.asyncio
async def test_real_model_answer_end_to_end(make_slack, real_index):
    slack = await make_slack(index=real_index)
    ts = await slack.mention("how much did Xi pledge?")
    [post] = await slack.posts()
    assert post["thread_ts"] == ts
    # The pledge, in either currency the sentence gives it (the reader picks the span).
    assert post["blocks"][0]["text"]["text"] in {"*Rmb26bn ($3.7bn)*", "*Rmb26bn*", "*$3.7bn*"}
    assert "paragraph 6" in mrkdwn(post)


def _questions(state: StateStore) -> list[dict]:
    import sqlalchemy as sa

    from bot.state import questions

    with state.engine.connect() as connection:
        return [
            dict(r)
            for r in connection.execute(sa.select(questions).order_by(questions.c.id)).mappings()
        ]
