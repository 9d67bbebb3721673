"""Discord faults, over the wire: REST rate-limiting or failing for several calls in a row
(handled by discord.py's own retry logic), and the gateway dropping — resumed, or a fresh
session when Discord refuses to resume. Every answer arrives once; none lost, none doubled."""

from __future__ import annotations

import asyncio

import pytest

from tests.test_discord_bot import (  # noqa: F401  (fixtures: the real bot against FakeDiscord)
    CALLBACK,
    MESSAGES,
    ORIGINAL,
    PLEDGE,
    PLEDGE_QUOTE,
    answered,
    bot,
    fake,
    for_token,
    service,
    settings,
    shared_index,
    slash,
    state,
)


def replies_to(fake, sent: dict) -> list:
    return [
        r for r in fake.calls("POST", MESSAGES)
        if r.status == 200 and r.json["message_reference"]["message_id"] == int(sent["id"])
    ]


@pytest.mark.asyncio
async def test_a_run_of_429s_delays_replies_but_delivers_each_once(fake, bot):
    fake.fail_next("POST", MESSAGES, status=429, times=4, retry_after=0.1)
    sent = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    attempts = await fake.wait_for("POST", MESSAGES, count=5, timeout=20)
    assert [a.status for a in attempts] == [429, 429, 429, 429, 200]
    assert all(a.json == attempts[-1].json for a in attempts)  # the same answer, not a fallback
    [reply] = replies_to(fake, sent)
    assert PLEDGE_QUOTE in reply.json["embeds"][0]["description"]


@pytest.mark.asyncio
async def test_server_errors_on_replies_and_interaction_edits_lose_nothing(fake, bot, state):
    # discord.py waits 1 s, then 3 s, between 5xx retries: two failures in a row each.
    fake.fail_next("POST", MESSAGES, status=500, times=2)
    fake.fail_next("PATCH", ORIGINAL, status=502, times=2)
    sent = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    payload = await slash(fake, "ask", {"question": PLEDGE})
    await fake.wait_for("POST", MESSAGES, count=3, timeout=20)
    _, edit = await answered(fake, payload)
    [reply] = replies_to(fake, sent)
    assert PLEDGE_QUOTE in reply.json["embeds"][0]["description"]
    edits = for_token(fake.calls("PATCH", ORIGINAL), payload)
    for _ in range(200):  # the answered() helper returns at the first (failed) edit
        edits = for_token(fake.calls("PATCH", ORIGINAL), payload)
        if any(e.status == 200 for e in edits):
            break
        await asyncio.sleep(0.05)
    assert [e.status for e in edits] == [502, 502, 200]
    assert PLEDGE_QUOTE in edits[-1].json["embeds"][0]["description"]
    assert [r.status for r in fake.calls("POST", MESSAGES)] == [500, 500, 200]
    assert len(for_token(fake.calls("POST", CALLBACK), payload)) == 1


@pytest.mark.asyncio
async def test_the_bot_answers_again_after_the_gateway_drops_or_refuses_to_resume(fake, bot):
    first = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    await fake.wait_for("POST", MESSAGES, count=1)

    # A dropped connection: discord.py resumes the same session.
    await fake.disconnect_gateway(code=4000)
    [resume] = await fake.wait_for_resume(count=1, timeout=20)
    assert resume.accepted
    second = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    await fake.wait_for("POST", MESSAGES, count=2, timeout=10)

    # A session Discord will not resume: discord.py identifies afresh.
    identifies = len(fake.identifies)
    await fake.invalidate_session(resumable=False)
    await fake.wait_for_identify(count=identifies + 1, timeout=30)
    third = fake.message_create(f"<@{fake.bot_id}> {PLEDGE}")
    await fake.dispatch("MESSAGE_CREATE", third, timeout=20)  # once the new session is ready
    await fake.wait_for("POST", MESSAGES, count=3, timeout=10)

    for sent in (first, second, third):
        [reply] = replies_to(fake, sent)
        assert PLEDGE_QUOTE in reply.json["embeds"][0]["description"]
    assert len(fake.calls("POST", MESSAGES)) == 3
