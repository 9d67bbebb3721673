"""Slack's Agents & AI Apps pane end to end: the pane's signed events go in through the bot's
HTTP route to the real bolt AsyncApp (its AsyncAssistant middleware), and the tests read what
went over the wire to the fake Slack Web API — ``assistant.threads.setSuggestedPrompts``,
``.setStatus``, ``.setTitle``, the greeting and answers, and the thread context bolt keeps in the
greeting's metadata (``chat.update``, ``conversations.replies``)."""

from __future__ import annotations

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.service import AnswerService
from bot.settings import Settings
from bot.slack import render
from bot.slack.app import build_app
from bot.slack.assistant import PROMPT_TITLE_LIMIT, suggested_prompts
from bot.slack.http import add_slack_routes
from bot.state import StateStore, default_database_url
from bot.web import make_web_app
from index.embedders import HashingEmbedder
from index.engine import CiteIndex
from index.models import Document
from tests.chat_documents import LIGHTHOUSE
from tests.conftest import CORPUS
from tests.fakes.slack_api import FakeSlackWebAPI, message_event
from tests.test_slack_app import SECRET, TOKEN, Slack, buttons, mrkdwn

DM = "DPANE"  # the pane's DM with CiteBot
LIGHT = "CLIGHT"  # a channel bound to the collection "lighthouse"
GENERAL = "CGENERAL"  # an unbound channel: it sees "default" (the bundled article)
LIGHTHOUSE_TITLE = "The Tern Point lighthouse"
ARTICLE_TITLE = "Xi Jinping pushes Central Asian defence co-operation plan"
# Five documents in the DM collection, one more than the pane shows; one title tries to ping.
HANDBOOK = {
    f"handbook-{n}.md": f"# {title}\n\n{body}\n"
    for n, (title, body) in enumerate(
        [
            ("Office kettle rules", "Descale the office kettle every Friday with citric acid."),
            ("Bike shed access", "The bike shed code changes on the first Monday of each month."),
            ("@here Fire drill <soon>", "Fire drills happen twice a year, in March and October."),
            ("Printer paper orders", "Order printer paper from the stores desk on Wednesdays."),
            ("Parking permits", "Parking permits are renewed every January at reception."),
        ]
    )
}
PLEDGE = "Rmb26bn financing support"  # the fake embedder finds paragraph 6 of the article
STATUS = "Searching the documents…"
PROMPT_TITLE_VIEWING = "From the documents of the channel you are viewing"
PROMPT_TITLE_DM = "From my documents"


@pytest.fixture
def index(isolated_home):
    # The heuristic reader: these tests are about which documents answer, not the reader.
    index = CiteIndex(isolated_home, embedder=HashingEmbedder(), corpus=CORPUS, reader=None)
    index.warm_up()
    index.add_bytes(
        LIGHTHOUSE.encode(), name="lighthouse.md", source="lighthouse.md", collection="lighthouse"
    )
    for name, text in HANDBOOK.items():
        index.add_bytes(text.encode(), name=name, source=name, collection="handbook")
    return index


@pytest_asyncio.fixture
async def slack(isolated_home, index):
    isolated_home.mkdir(parents=True, exist_ok=True)
    state = StateStore(default_database_url(isolated_home))
    state.bind_collection("slack", LIGHT, "lighthouse")
    with FakeSlackWebAPI(token=TOKEN) as fake:
        settings = Settings(
            home=isolated_home,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
        )
        service = AnswerService(index, state)
        service.dm_collections = ("handbook",)  # what CITEBOT_DM_COLLECTIONS=handbook sets
        web_app = make_web_app(lambda: True)
        add_slack_routes(web_app, build_app(settings, service))
        client = TestClient(TestServer(web_app))
        await client.start_server()
        try:
            yield Slack(fake, client, service)
        finally:
            await client.close()
            state.close()


# --- the pane's events, as Slack sends them ----------------------------------------------------


def assistant_thread(kind: str, root: str, viewing: str | None) -> dict:
    """``assistant_thread_started`` / ``assistant_thread_context_changed`` (Slack's Events API
    reference): the pane's DM thread and, when a channel is in view, that channel."""
    context = {"channel_id": viewing, "team_id": "T1", "enterprise_id": None} if viewing else {}
    return {
        "type": kind,
        "assistant_thread": {
            "user_id": "U1",
            "context": context,
            "channel_id": DM,
            "thread_ts": root,
        },
        "event_ts": root,
    }


async def open_pane(slack: Slack, viewing: str | None) -> str:
    """The person opens the pane: Slack creates the thread, then sends thread_started."""
    root = slack.ts()
    # Slack's own first message of an assistant thread (not CiteBot's reply).
    slack.fake.set_thread(
        DM, root,
        [{"type": "message", "subtype": "assistant_app_thread", "user": "UBOT", "text": "New chat",
          "ts": root, "thread_ts": root}],
    )
    await slack.event(assistant_thread("assistant_thread_started", root, viewing))
    return root


async def ask(slack: Slack, root: str, text: str) -> None:
    await slack.event(message_event(text, DM, "U1", slack.ts(), "im", thread_ts=root))


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_new_thread_greets_and_suggests_the_viewed_channels_documents(slack):
    root = await open_pane(slack, LIGHT)

    [greeting] = await slack.posts()
    [prompts] = await slack.fake.wait_for("assistant.threads.setSuggestedPrompts", ok_only=True)
    assert greeting["channel"] == DM and greeting["thread_ts"] == root
    assert "the documents of the channel you are viewing (1 document)" in mrkdwn(greeting)
    # The thread context rides on the greeting, in the shape bolt's context store reads back.
    assert greeting["metadata"] == {
        "event_type": "assistant_thread_context",
        "event_payload": {"channel_id": LIGHT, "team_id": "T1", "enterprise_id": None},
    }
    assert prompts == {
        "team_id": "T1",  # bolt's client names the workspace on every call
        "channel_id": DM,
        "thread_ts": root,
        "title": PROMPT_TITLE_VIEWING,
        "prompts": [
            {"title": LIGHTHOUSE_TITLE, "message": f"What is “{LIGHTHOUSE_TITLE}” about?"}
        ],
    }


@pytest.mark.asyncio
async def test_with_no_channel_in_view_the_prompts_come_from_the_dm_collections_four_at_most(
    slack,
):
    root = await open_pane(slack, None)

    [greeting] = await slack.posts()
    [prompts] = await slack.fake.wait_for("assistant.threads.setSuggestedPrompts", ok_only=True)
    assert greeting["metadata"] == {"event_type": "assistant_thread_context", "event_payload": {}}
    assert "my documents (5 documents)" in mrkdwn(greeting)
    assert prompts["channel_id"] == DM and prompts["thread_ts"] == root
    assert prompts["title"] == PROMPT_TITLE_DM
    titles = [p["title"] for p in prompts["prompts"]]
    assert titles == ["Office kettle rules", "Bike shed access", "@\u200bhere Fire drill",
                      "Printer paper orders"]
    # A prompt is sent as the person's own message: a title in it pings nobody, marks up nothing.
    messages = " ".join(p["message"] for p in prompts["prompts"])
    assert "@here" not in messages and "<" not in messages and ">" not in messages
    assert LIGHTHOUSE_TITLE not in messages and ARTICLE_TITLE not in messages


@pytest.mark.asyncio
async def test_a_question_sets_title_and_status_and_is_answered_from_the_viewed_channel(slack):
    root = await open_pane(slack, None)
    await slack.posts(1)
    await slack.fake.wait_for("assistant.threads.setSuggestedPrompts")  # the greeting's prompts

    # The person switches to the lighthouse channel: bolt stores the new context on the
    # greeting, and the prompts follow the channel.
    await slack.event(assistant_thread("assistant_thread_context_changed", root, LIGHT))
    [update] = await slack.fake.wait_for("chat.update", ok_only=True)
    [greeting] = slack.fake.posted_messages(DM)
    assert update["channel"] == DM and update["ts"] == greeting["ts"]
    assert update["metadata"]["event_payload"]["channel_id"] == LIGHT
    [_, prompts] = await slack.fake.wait_for("assistant.threads.setSuggestedPrompts", 2)
    assert [p["title"] for p in prompts["prompts"]] == [LIGHTHOUSE_TITLE]

    question = "Who built the Tern Point lighthouse?"
    await ask(slack, root, question)
    [_, answer] = await slack.posts(2)
    [title] = slack.fake.calls("assistant.threads.setTitle", ok_only=True)
    [status] = slack.fake.calls("assistant.threads.setStatus", ok_only=True)
    assert title == {"team_id": "T1", "channel_id": DM, "thread_ts": root, "title": question}
    assert status == {"team_id": "T1", "channel_id": DM, "thread_ts": root, "status": STATUS}
    # The context was read back from the greeting's metadata, which Slack returns only on asking.
    replies = slack.fake.calls("conversations.replies")
    assert replies and all(r["include_all_metadata"] in (True, "1", "true") for r in replies)

    assert answer["channel"] == DM and answer["thread_ts"] == root
    assert f"_{LIGHTHOUSE_TITLE}_, paragraph" in mrkdwn(answer)
    [record] = _records(slack.state)
    assert [b["action_id"] for b in buttons(answer)] == [render.VOTE_UP, render.VOTE_DOWN]
    assert {b["value"] for b in buttons(answer)} == {str(record["id"])}
    assert (record["channel"], record["thread"], record["document"]) == (DM, root, "lighthouse")

    # Switching to an unbound channel switches the documents: the article, never the lighthouse.
    await slack.event(assistant_thread("assistant_thread_context_changed", root, GENERAL))
    await slack.fake.wait_for("chat.update", 2, ok_only=True)
    await ask(slack, root, question)
    [*_, elsewhere] = await slack.posts(3)
    assert LIGHTHOUSE_TITLE not in mrkdwn(elsewhere) and "Margaret Ould" not in mrkdwn(elsewhere)
    assert f"_{ARTICLE_TITLE}_, paragraph" in mrkdwn(elsewhere)

    # A follow-up is read with the thread's last question, as in a channel thread; the thread
    # keeps its first title.
    await ask(slack, root, PLEDGE)
    [*_, pledge] = await slack.posts(4)
    await ask(slack, root, "and when was that?")
    [*_, follow_up] = await slack.posts(5)
    assert "paragraph 6" in mrkdwn(pledge) and "paragraph 6" in mrkdwn(follow_up)
    assert len(slack.fake.calls("assistant.threads.setStatus", ok_only=True)) == 4
    assert len(slack.fake.calls("assistant.threads.setTitle")) == 1
    # Asked afresh in a new thread, the same words land elsewhere.
    fresh = await open_pane(slack, GENERAL)
    await ask(slack, fresh, "and when was that?")
    [*_, control] = await slack.posts(7)
    assert control["thread_ts"] == fresh and "paragraph 6" not in mrkdwn(control)
    assert slack.fake.calls("assistant.threads.setTitle")[-1]["title"] == "and when was that?"


@pytest.mark.asyncio
async def test_without_a_channel_in_view_questions_see_only_the_dm_collections(slack):
    root = await open_pane(slack, None)
    await slack.posts(1)
    await ask(slack, root, "Who built the Tern Point lighthouse?")
    [_, answer] = await slack.posts(2)
    assert LIGHTHOUSE_TITLE not in mrkdwn(answer) and ARTICLE_TITLE not in mrkdwn(answer)
    await ask(slack, root, "When is the office kettle descaled?")
    [*_, kettle] = await slack.posts(3)
    assert "_Office kettle rules_, paragraph" in mrkdwn(kettle)


def test_a_prompt_from_a_hostile_title_pings_nobody_and_marks_up_nothing():
    def document(title: str) -> Document:
        return Document(doc_id="d", title=title, source="d.md", text="x", paragraphs=[])

    [prompt] = suggested_prompts([document("<!channel> @here  Pay <@U123> " + "now " * 40)])
    assert "<" not in prompt["message"] and ">" not in prompt["message"]
    assert "@here" not in prompt["message"] and "@\u200bhere" in prompt["message"]
    assert prompt["title"].startswith("!channel @\u200bhere Pay @\u200bU123 now")
    assert len(prompt["title"]) <= PROMPT_TITLE_LIMIT and prompt["title"].endswith("…")
    assert len(suggested_prompts([document(f"Doc {n}") for n in range(9)])) == 4


def _records(state: StateStore) -> list[dict]:
    import sqlalchemy as sa

    from bot.state import questions

    with state.engine.connect() as connection:
        return [
            dict(r)
            for r in connection.execute(sa.select(questions).order_by(questions.c.id)).mappings()
        ]
