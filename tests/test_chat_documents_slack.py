"""Documents from Slack, end to end: the real bolt app behind the bot's HTTP route, signed
commands and shortcuts in, a local fake Slack Web API (which also serves the files) and a real
HTTP server on 127.0.0.1 for links; assertions on what went over the wire and on the index."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

import bot.slack.documents as slack_documents
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.documents import ADD_SHORTCUT_ID
from bot.slack.http import add_slack_routes
from bot.state import StateStore, default_database_url
from bot.web import make_web_app
from tests.chat_documents import (
    LIGHTHOUSE,
    LIGHTHOUSE_FACT,
    ORCHARD_FACT,
    ORCHARD_HTML,
    DocumentServer,
    pdf_bytes,
)
from tests.fakes.slack_api import (
    FakeSlackWebAPI,
    message_event,
    message_shortcut_payload,
)
from tests.test_slack_app import SECRET, TOKEN, Slack, mrkdwn

ADMIN = "UBOSS"  # in CITEBOT_ADMIN_IDS
OWNER = "UOWNER"  # a workspace owner, by users.info
ZWSP = "\u200b"


@pytest.fixture
def fake():
    with FakeSlackWebAPI(token=TOKEN) as server:
        server.set_user(OWNER, is_owner=True)
        yield server


@pytest_asyncio.fixture
async def docs():
    async with DocumentServer() as server:
        yield server


@pytest.fixture
def state(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    store = StateStore(default_database_url(isolated_home))
    yield store
    store.close()


@pytest_asyncio.fixture
async def make_slack(fake, fake_index, state, isolated_home):
    clients: list[TestClient] = []

    async def start(*, allow_private: bool = True, max_document_mb: float = 20, index=None) -> Slack:
        settings = Settings(
            home=isolated_home,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
            admin_ids=[ADMIN],
            fetch_allow_private=allow_private,
            max_document_mb=max_document_mb,
        )
        service = AnswerService(index or fake_index, state)
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


def index_state(index):
    """What must not move when an add is refused: the documents and the published version."""
    pointer = index.home / "index" / "CURRENT"
    return sorted(d.doc_id for d in index.documents()), pointer.read_text()


def shared_file(fake, channel: str, user: str, file: dict, ts: str = "1710000100.000100"):
    """What conversations.history shows after ``user`` shared ``file`` in ``channel``."""

    def history(body):
        assert body["channel"] == channel
        return {
            "ok": True,
            "messages": [
                {"type": "message", "user": "U9", "text": "unrelated", "ts": "1710000200.000100"},
                {"type": "message", "user": user, "text": "", "ts": ts, "files": [file]},
            ],
            "has_more": False,
        }

    fake.set_response("conversations.history", history)


async def reply_to(slack: Slack, command: str, text: str, **kwargs) -> dict:
    """Run a command and wait for its one reply (commands are acknowledged before they finish,
    so replies to commands sent back to back could arrive in any order)."""
    seen = len(slack.fake.calls("response_url"))
    await slack.command(command, text, **kwargs)
    return (await slack.responses(seen + 1))[-1]


async def ask(slack: Slack, text: str, *, channel: str = "C1", count: int) -> dict:
    await slack.mention(text, channel=channel)
    posts = await slack.posts(count)
    return posts[-1]


# --- adding ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_admin_adds_a_link_and_the_next_question_is_answered_from_it(slack, docs, fake_index):
    url = docs.put("orchard", ORCHARD_HTML, "text/html; charset=utf-8")
    await slack.command("/add", f"<{url}>", user=ADMIN)
    [reply] = await slack.responses()
    shown = mrkdwn(reply)
    assert "Added *<" in shown and "|Quince orchard notes>*" in shown
    assert "to `default`" in shown and "4 passages" in shown and "searchable now" in shown
    assert "A key point (paragraph" in shown and "\n> " in shown
    [document] = [d for d in fake_index.documents() if d.title == "Quince orchard notes"]
    assert document.url == url and document.collection == "default"

    post = await ask(slack, ORCHARD_FACT + "?", count=1)
    assert ORCHARD_FACT in mrkdwn(post) and "Quince orchard notes" in mrkdwn(post)


@pytest.mark.asyncio
async def test_an_add_during_shutdown_says_to_try_again_and_adds_nothing(slack, docs, fake_index):
    url = docs.put("orchard", ORCHARD_HTML, "text/html; charset=utf-8")
    before = sorted(d.doc_id for d in fake_index.documents())
    fake_index.close()  # what `citebot serve` does on SIGTERM
    await slack.command("/add", f"<{url}>", user=ADMIN)
    [reply] = await slack.responses()
    assert "restarting; nothing was added" in mrkdwn(reply) and "add it again" in mrkdwn(reply)
    assert sorted(d.doc_id for d in fake_index.documents()) == before


@pytest.mark.asyncio
async def test_admin_adds_the_file_they_shared_and_it_is_downloaded_with_the_bot_token(
    slack, fake, fake_index
):
    file = fake.add_file("F1", "lighthouse.md", LIGHTHOUSE.encode(), "text/markdown", user=OWNER)
    shared_file(fake, "C1", OWNER, file)
    await slack.command("/add", "", user=OWNER)
    [reply] = await slack.responses()
    assert "Added *The Tern Point lighthouse*" in mrkdwn(reply) and "`lighthouse`" in mrkdwn(reply)
    [history] = fake.calls("conversations.history")
    assert history["channel"] == "C1"
    [download] = [r for r in fake.requests if r.path.startswith("/files/F1/")]
    assert download.headers["authorization"] == f"Bearer {TOKEN}"

    post = await ask(slack, LIGHTHOUSE_FACT, count=1)
    assert LIGHTHOUSE_FACT in mrkdwn(post)


@pytest.mark.asyncio
async def test_add_to_citebot_shortcut_adds_a_pdf_from_the_message(slack, fake, fake_index):
    pdf = pdf_bytes("Kiln Log\nThe anagama kiln was fired for 96 hours at Corrow Pottery in 2022.")
    file = fake.add_file("F2", "kiln.pdf", pdf, "application/pdf", user="U2")
    message = {"type": "message", "user": "U2", "text": "the log", "ts": "1710000300.000100",
               "files": [file]}
    await slack.interactive(
        message_shortcut_payload(ADD_SHORTCUT_ID, message, ADMIN, "C1", fake.response_url("s"))
    )
    [reply] = await slack.responses()
    assert "Added *Kiln Log*" in mrkdwn(reply)
    post = await ask(slack, "How long was the anagama kiln fired?", count=1)
    assert "96 hours" in mrkdwn(post)


@pytest.mark.asyncio
async def test_a_slow_add_says_it_is_working_then_replaces_that_note(slack, docs, monkeypatch):
    monkeypatch.setattr(slack_documents, "WORKING_NOTICE_AFTER", 0)
    url = docs.put("guide.md", LIGHTHOUSE, "text/markdown")
    await slack.command("/add", url, user=ADMIN)
    working, done = await slack.responses(2)
    assert "Working on" in mrkdwn(working) and "replace_original" not in working
    assert done["replace_original"] is True and "Added *" in mrkdwn(done)


@pytest.mark.asyncio
async def test_questions_keep_being_answered_while_a_document_is_ingested(slack, fake_index, docs):
    url = docs.put("guide.md", LIGHTHOUSE * 30, "text/markdown")
    add = asyncio.create_task(slack.command("/add", url, user=ADMIN))
    post = await ask(slack, "Rmb26bn financing support", count=1)
    assert "Rmb26bn" in mrkdwn(post)
    await add
    [reply] = await slack.responses()
    assert "Added *" in mrkdwn(reply)


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_non_admin_is_refused_politely_and_nothing_is_fetched(slack, docs, fake, fake_index):
    before = index_state(fake_index)
    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    await slack.command("/add", url, user="U2")
    await slack.command("/forget", "ft-xi-central-asia-2023", user="U2", name="f")
    await slack.command("/collection", "use secret", user="U2", name="c")
    replies = await slack.responses(3)
    assert all("only workspace admins and owners" in mrkdwn(r) for r in replies)
    assert docs.hits == [] and index_state(fake_index) == before
    assert slack.state.channel_collections("slack", "C1") == []
    assert [c["user"] for c in fake.calls("users.info")] == ["U2", "U2", "U2"]


@pytest.mark.asyncio
async def test_a_loopback_link_is_refused_when_private_addresses_are_off(make_slack, docs, fake_index):
    slack = await make_slack(allow_private=False)
    before = index_state(fake_index)
    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    await slack.command("/add", url, user=ADMIN)
    [reply] = await slack.responses()
    assert mrkdwn(reply).split("\n")[0] == "Couldn't add that link: refused: 127.0.0.1 is a loopback address."
    assert docs.hits == [] and index_state(fake_index) == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "name, content, mimetype, reason",
    [
        ("huge.txt", b"word " * 1000, "text/plain", "too large (5,000 bytes; the limit is 1,048)"),
        ("setup.exe", b"MZ\x90\x00\x03", "application/octet-stream", "unsupported file type '.exe'"),
        ("photo.png", b"\x89PNG\r\n\x1a\n", "image/png", "unsupported file type '.png'"),
        ("empty.md", b"  \n\n ", "text/markdown", "empty file"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj garbage", "application/pdf", "unreadable PDF"),
        ("notes.txt", b"\xff\xfe\x00n\x00o", "text/plain", "binary file, not text"),
    ],
)
async def test_bad_files_are_refused_in_one_line_and_the_index_is_unchanged(
    make_slack, fake, fake_index, name, content, mimetype, reason
):
    slack = await make_slack(max_document_mb=0.001)  # 1,048 bytes
    before = index_state(fake_index)
    file = fake.add_file("FBAD", name, content, mimetype, user=ADMIN)
    shared_file(fake, "C1", ADMIN, file)
    await slack.command("/add", "", user=ADMIN)
    [reply] = await slack.responses()
    [line] = mrkdwn(reply).split("\n")[:1]
    assert line.startswith(f"Couldn't add '{name}': {reason}") and line.endswith(".")
    assert index_state(fake_index) == before


@pytest.mark.asyncio
async def test_add_without_a_shared_file_or_with_two_links_explains_itself(slack, fake):
    fake.set_response("conversations.history", {"ok": True, "messages": [], "has_more": False})
    no_file = await reply_to(slack, "/add", "", user=ADMIN)
    two = await reply_to(slack, "/add", "https://a.example https://b.example", user=ADMIN)
    assert "I didn't find a file from you" in mrkdwn(no_file)
    assert "Give one http:// or https:// link" in mrkdwn(two)


@pytest.mark.asyncio
async def test_add_where_citebot_is_not_a_member_says_to_invite_it(slack, fake):
    fake.set_response("conversations.history", {"ok": False, "error": "not_in_channel"})
    reply = await reply_to(slack, "/add", "", user=ADMIN)
    assert "Invite me first" in mrkdwn(reply) and "I didn't find a file" not in mrkdwn(reply)


@pytest.mark.asyncio
async def test_slacks_sign_in_page_is_not_indexed_in_place_of_the_file(slack, fake, docs, fake_index):
    # Slack answers a download it won't authorise with its HTML sign-in page and status 200.
    page = "<!DOCTYPE html><html><body><p>Sign in to Slack to continue.</p></body></html>"
    file = fake.add_file("F3", "notes.txt", b"Private notes.", "text/plain", user=ADMIN)
    file["url_private_download"] = docs.put("notes.txt", page, "text/html; charset=utf-8")
    shared_file(fake, "C1", ADMIN, file)
    before = index_state(fake_index)
    await slack.command("/add", "", user=ADMIN)
    [reply] = await slack.responses()
    assert "Couldn't add 'notes.txt': Slack refused the download" in mrkdwn(reply)
    assert index_state(fake_index) == before


# --- channels, collections, forgetting ------------------------------------------------------------


@pytest.mark.asyncio
async def test_collection_use_binds_the_channel_and_add_writes_there(slack, docs, fake_index):
    status = await reply_to(slack, "/collection", "", user="U2")
    assert "sees the shared `default` collection" in mrkdwn(status)

    done = await reply_to(slack, "/collection", "use garden", user=ADMIN, channel="CG")
    assert "now sees `garden`" in mrkdwn(done)
    assert slack.state.channel_collections("slack", "CG") == ["garden"]

    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    reply = await reply_to(slack, "/add", url, user=ADMIN, channel="CG")
    assert "to `garden`" in mrkdwn(reply)
    garden = await reply_to(slack, "/sources", "", channel="CG")
    general = await reply_to(slack, "/sources", "", channel="C1")
    assert "Quince orchard notes" in mrkdwn(garden) and "Xi Jinping" not in mrkdwn(garden)
    assert "· `orchard`" in mrkdwn(garden)
    assert "Quince orchard notes" not in mrkdwn(general) and "Xi Jinping" in mrkdwn(general)


@pytest.mark.asyncio
async def test_a_channel_seeing_two_collections_must_name_one(slack, docs, fake_index):
    await reply_to(slack, "/collection", "use garden, tools", user=ADMIN, channel="CG")
    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    several = await reply_to(slack, "/add", url, user=ADMIN, channel="CG")
    unseen = await reply_to(slack, "/add", f"{url} --collection secret", user=ADMIN, channel="CG")
    added = await reply_to(slack, "/add", f"--collection tools {url}", user=ADMIN, channel="CG")
    assert "sees several collections (garden, tools)" in mrkdwn(several)
    assert "does not see the collection 'secret'" in mrkdwn(unseen)
    assert "to `tools`" in mrkdwn(added)
    assert {d.collection for d in fake_index.documents() if d.title == "Quince orchard notes"} == {"tools"}


@pytest.mark.asyncio
async def test_forget_removes_only_a_document_this_channel_sees(slack, fake_index):
    fake_index.add_bytes(LIGHTHOUSE.encode(), name="lighthouse.md", source="chat:hr:lighthouse.md",
                         collection="hr")
    await slack.command("/forget", "lighthouse", user=ADMIN, channel="C1")
    [refused] = await slack.responses()
    assert "No document 'lighthouse' in this channel's collections" in mrkdwn(refused)
    assert "lighthouse" in {d.doc_id for d in fake_index.documents()}

    slack.state.bind_collection("slack", "CHR", "hr")
    await slack.command("/forget", "lighthouse", user=ADMIN, channel="CHR", name="hr")
    forgotten = (await slack.responses(2))[-1]
    assert "Forgot *The Tern Point lighthouse* (`lighthouse`) from `hr`" in mrkdwn(forgotten)
    assert "lighthouse" not in {d.doc_id for d in fake_index.documents()}


@pytest.mark.asyncio
async def test_direct_messages_see_the_dm_collections(slack, fake, fake_index):
    fake_index.add_bytes(LIGHTHOUSE.encode(), name="lighthouse.md", source="chat:hr:lighthouse.md",
                         collection="hr")
    await slack.event(message_event(LIGHTHOUSE_FACT, "D1", "U1", slack.ts(), "im"))
    [default_dm] = await slack.posts()
    assert LIGHTHOUSE_FACT not in mrkdwn(default_dm)

    slack.service.dm_collections = ("hr",)
    await slack.event(message_event(LIGHTHOUSE_FACT, "D1", "U1", slack.ts(), "im"))
    hr_dm = (await slack.posts(2))[-1]
    assert LIGHTHOUSE_FACT in mrkdwn(hr_dm)
    await slack.command("/collection", "", channel="D1")
    [status] = await slack.responses()
    assert "Direct messages see `hr`" in mrkdwn(status)


@pytest.mark.asyncio
async def test_echoed_titles_links_and_names_never_ping(slack, docs, fake_index):
    hostile = ORCHARD_HTML.replace("Quince orchard notes", "<!channel> @here orchard <@U1>")
    url = docs.put("hostile", hostile, "text/html")
    await slack.command("/add", url, user=ADMIN)
    await slack.command("/add", "<!everyone>", user=ADMIN, name="b")
    await slack.command("/collection", "use <!channel>", user=ADMIN, name="c")
    replies = await slack.responses(3)
    for reply in replies:
        shown = mrkdwn(reply)
        assert "<!channel>" not in shown and "<!everyone>" not in shown and "<@U1>" not in shown
        assert "@here" not in shown.replace("@" + ZWSP + "here", "")
