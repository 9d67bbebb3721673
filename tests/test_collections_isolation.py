"""A channel bound to one collection never sees another's documents — checked over many
questions through the real Slack app and the fake Slack Web API, with the real embedding model:
every sentence of each collection's documents is asked in the other channel. The digest of a
channel lists only its own collections' documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.digest.content import build_digest
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.http import add_slack_routes
from bot.state import StateStore, default_database_url
from bot.web import make_web_app
from index.engine import CiteIndex
from tests.chat_documents import LIGHTHOUSE, ORCHARD_HTML, DocumentServer
from tests.conftest import CORPUS
from tests.fakes.slack_api import FakeSlackWebAPI
from tests.test_chat_documents_slack import ADMIN, reply_to, shared_file
from tests.test_slack_app import SECRET, TOKEN, Slack, mrkdwn

pytestmark = pytest.mark.model

PRIVATE = "CPRIVATE"  # bound to the collection "private"
GENERAL = "CGENERAL"  # unbound: sees "default" (the bundled article)


@pytest.fixture
def model_index(isolated_home, real_embedder):
    index = CiteIndex(isolated_home, embedder=real_embedder, corpus=CORPUS)
    index.warm_up()
    return index


@pytest_asyncio.fixture
async def slack(isolated_home, model_index):
    isolated_home.mkdir(parents=True, exist_ok=True)
    state = StateStore(default_database_url(isolated_home))
    with FakeSlackWebAPI(token=TOKEN) as fake:
        settings = Settings(
            home=isolated_home, slack_bot_token=TOKEN, slack_signing_secret=SECRET,
            slack_api_url=fake.base_url, admin_ids=[ADMIN], fetch_allow_private=True,
        )
        service = AnswerService(model_index, state)
        web_app = make_web_app(lambda: True)
        add_slack_routes(web_app, build_app(settings, service))
        client = TestClient(TestServer(web_app))
        await client.start_server()
        try:
            yield Slack(fake, client, service)
        finally:
            await client.close()
            state.close()


def cited(message: dict) -> str:
    """What an /ask reply quotes and cites: everything but the echo of the question."""
    blocks = message["blocks"]
    if blocks and blocks[0]["type"] == "context":  # "You asked: …"
        blocks = blocks[1:]
    return mrkdwn({"blocks": blocks})


def sentences_of(index, collection):
    snapshot = index._snapshot
    return {
        doc_id: [snapshot.sentence_text(s) for s in snapshot.sentences if s.doc_id == doc_id]
        for doc_id, d in snapshot.documents.items() if d.collection == collection
    }


@pytest.mark.asyncio
async def test_bound_channels_never_quote_or_cite_each_others_documents(slack, model_index):
    async with DocumentServer() as docs:
        done = await reply_to(slack, "/collection", "use private", user=ADMIN, channel=PRIVATE)
        assert "now sees `private`" in mrkdwn(done)
        url = docs.put("orchard", ORCHARD_HTML, "text/html")
        assert "to `private`" in mrkdwn(await reply_to(slack, "/add", url, user=ADMIN, channel=PRIVATE))
    file = slack.fake.add_file("F1", "lighthouse.md", LIGHTHOUSE.encode(), "text/markdown", user=ADMIN)
    shared_file(slack.fake, PRIVATE, ADMIN, file)
    assert "to `private`" in mrkdwn(await reply_to(slack, "/add", "", user=ADMIN, channel=PRIVATE))

    private = sentences_of(model_index, "private")
    public = sentences_of(model_index, "default")
    private_titles = {model_index._snapshot.documents[d].title for d in private}
    public_titles = {model_index._snapshot.documents[d].title for d in public}
    assert len(private) == 2 and len(public) == 1

    # The real model answers from the channel's own documents...
    answer = mrkdwn(await reply_to(slack, "/ask", "Who built the Tern Point lighthouse?",
                                   channel=PRIVATE))
    assert "Margaret Ould" in answer and "The Tern Point lighthouse" in answer

    # ...and never from the other channel's, whatever is asked.
    asked = 0
    for sentence in (s for texts in private.values() for s in texts):
        shown = cited(await reply_to(slack, "/ask", sentence, channel=GENERAL))
        assert not any(title in shown for title in private_titles), sentence
        assert sentence not in shown
        asked += 1
    for sentence in (s for texts in public.values() for s in texts):
        shown = cited(await reply_to(slack, "/ask", sentence[:500], channel=PRIVATE))
        assert not any(title in shown for title in public_titles), sentence
        asked += 1
    assert asked == sum(map(len, private.values())) + sum(map(len, public.values())) >= 30

    listing = mrkdwn(await reply_to(slack, "/sources", "", channel=GENERAL))
    assert not any(title in listing for title in private_titles)

    # The digest of each channel lists only its own collections' documents.
    now = datetime.now(UTC)
    state = slack.state
    private_digest = build_digest(model_index, state, platform="slack", channel=PRIVATE, until=now)
    general_digest = build_digest(model_index, state, platform="slack", channel=GENERAL, until=now)
    assert {d.title for d in private_digest.documents} == private_titles
    assert {d.title for d in general_digest.documents} == public_titles
