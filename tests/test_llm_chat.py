"""LLM answers on the chat surfaces: what Slack and Discord receive is the checked answer or the
reader's, never the model's unchecked text; Discord shows typing while the model works; /metrics
counts the rejections. Real bolt and discord.py against the local fakes, the real ``openai``
client against the local chat-completions fake."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from bot.discord.bot import CiteBot, endpoints
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.http import add_slack_routes
from bot.state import StateStore
from bot.web import make_web_app
from index.embedders import HashingEmbedder
from index.engine import CiteIndex
from index.llm_reader import LLMReader
from tests.conftest import CORPUS
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, running_client
from tests.fakes.openai_server import FakeLLM, Step, answer
from tests.fakes.slack_api import FakeSlackWebAPI, app_mention_event, event_callback, signed_json

TIMEOUT = 3.0
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
QUESTION = "Rmb26bn financing support"
GROUNDED = "Xi said Beijing would provide Rmb26bn ($3.7bn) in financing support and free assistance."
INVENTED = "Xi said Beijing would provide Rmb26bn ($4.2bn) in financing support."
QUOTE = "said Beijing would provide Rmb26bn ($3.7bn)"


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def index(llm, tmp_path_factory):
    reader = LLMReader(None, url=llm.base_url, model="test-model", timeout=TIMEOUT)
    index = CiteIndex(tmp_path_factory.mktemp("llm-chat"), embedder=HashingEmbedder(),
                      corpus=CORPUS, reader=reader)
    index.warm_up()
    yield index
    reader.close()


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


def rejected(platform: str, reason: str) -> float:
    return REGISTRY.get_sample_value(
        "citebot_llm_rejected_total", {"platform": platform, "reason": reason}
    ) or 0.0


def answered_by_llm(platform: str) -> float:
    return REGISTRY.get_sample_value("citebot_llm_answered_total", {"platform": platform}) or 0.0


# --- Slack ----------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack(llm, index, state):
    with FakeSlackWebAPI(token=TOKEN) as fake:
        settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                            slack_api_url=fake.base_url)
        web_app = make_web_app(lambda: True)
        add_slack_routes(web_app, build_app(settings, AnswerService(index, state)))
        async with TestClient(TestServer(web_app)) as http:
            yield fake, http


async def mention(http: TestClient, text: str, ts: str) -> None:
    event = app_mention_event(f"<@UBOT> {text}", "C1", "U1", ts)
    body, headers = signed_json(event_callback(event, event_id=f"Ev{ts}"), SECRET)
    response = await http.post("/slack/events", data=body, headers=headers)
    assert response.status == 200


def shown(message: dict) -> str:
    """Everything a Slack message shows: its fallback text and every block's text."""
    return json.dumps(message, ensure_ascii=False)


@pytest.mark.asyncio
async def test_slack_shows_the_checked_answer_and_never_the_invented_one(llm, slack):
    fake, http = slack
    llm.requests.clear()
    before_rejected, before_answered = rejected("slack", "unsupported_claim"), answered_by_llm("slack")

    llm.script(answer(INVENTED, [1]))
    started = time.monotonic()
    await mention(http, QUESTION, "1710000001.000100")
    [first] = await fake.wait_for("chat.postMessage", 1, ok_only=True)
    assert time.monotonic() - started < TIMEOUT + 1
    assert "4.2bn" not in shown(first) and INVENTED not in shown(first)
    assert QUOTE in shown(first)  # the reader's answer: the pledge sentence, quoted
    assert rejected("slack", "unsupported_claim") == before_rejected + 1

    llm.script(answer(GROUNDED, [1]))
    await mention(http, QUESTION, "1710000002.000100")
    posts = await fake.wait_for("chat.postMessage", 2, ok_only=True)
    second = posts[1]
    assert GROUNDED in second["text"] and QUOTE in shown(second)
    assert answered_by_llm("slack") == before_answered + 1
    assert len(llm.requests) == 2


@pytest.mark.asyncio
async def test_slack_gets_the_readers_answer_when_the_model_is_too_slow(llm, slack):
    fake, http = slack
    llm.script(Step(content=json.dumps({"answer": "Rmb88bn", "passages": [1]}),
                    delay=TIMEOUT + 3))
    before = rejected("slack", "timeout")
    started = time.monotonic()
    await mention(http, QUESTION, "1710000003.000100")
    [post] = await fake.wait_for("chat.postMessage", 1, ok_only=True)

    assert time.monotonic() - started < TIMEOUT + 1
    assert "Rmb88bn" not in shown(post) and QUOTE in shown(post)
    assert rejected("slack", "timeout") == before + 1


# --- Discord --------------------------------------------------------------------------------------

MESSAGES = re.compile(r"/channels/\d+/messages")
TYPING = re.compile(r"/channels/\d+/typing")


class QuickBot(CiteBot):
    async def before_identify_hook(self, shard_id, *, initial=False):
        return  # discord.py sleeps 5 s before each extra shard's IDENTIFY; Discord allows it here


@contextlib.asynccontextmanager
async def discord_bot(index, state):
    async with FakeDiscord(token=DEFAULT_TOKEN, allowed_privileged_intents=0) as fake:
        settings = Settings(DISCORD_TOKEN=DEFAULT_TOKEN, DISCORD_API_URL=fake.rest_base,
                            DISCORD_GATEWAY_URL=fake.gateway_url)
        with endpoints(settings):
            bot = QuickBot(AnswerService(index, state), settings=settings, guild_ready_timeout=0.3)
            async with running_client(bot, DEFAULT_TOKEN):
                yield fake


@pytest.mark.asyncio
async def test_discord_types_while_the_model_works_then_posts_the_checked_answer(llm, index, state):
    async with discord_bot(index, state) as fake:
        llm.script(Step(content=json.dumps({"answer": GROUNDED, "passages": [1]}), delay=1.2))
        await fake.send_message(f"<@{fake.bot_id}> {QUESTION}")
        [reply] = await fake.wait_for("POST", MESSAGES)

        typing = fake.calls("POST", TYPING)
        assert typing, [str(r) for r in fake.requests]
        assert fake.requests.index(typing[0]) < fake.requests.index(reply)
        [embed] = reply.json["embeds"]
        assert GROUNDED in json.dumps(embed, ensure_ascii=False)

        llm.script(answer(INVENTED, [1]))
        await fake.send_message(f"<@{fake.bot_id}> {QUESTION}")
        replies = await fake.wait_for("POST", MESSAGES, count=2)
        posted = json.dumps(replies[1].json, ensure_ascii=False)
        assert "4.2bn" not in posted and QUOTE in posted
