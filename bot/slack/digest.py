"""The digest on Slack: Block Kit within Slack's limits, the poster the scheduler is handed, and
the ``/digest`` command.

Every document and question text goes through :func:`bot.slack.text.escape`, so a question
that said "@channel" or "<!here>" is shown, not obeyed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..digest.content import Digest
from ..digest.render import digest_variables, shown, status_variables
from ..digest.schedule import Schedule, ScheduleError, parse_zone
from ..digest.scheduler import DigestRunner, utc_now
from ..render import most_that_fit
from ..service import AnswerService
from ..templates import render
from .render import MAX_BLOCKS, SECTION_LIMIT, Message, context, notice, section
from .render import safe_url as slack_url  # the answer renderer's own link rules
from .text import escape, to_plain

log = logging.getLogger("citebot.digest")

PLATFORM = "slack"
HEADER_LIMIT = 150  # header blocks are plain text of at most 150 characters
# Blocks around the documents: header, summary, "and N more", divider, questions, not answered,
# footer.
FIXED_BLOCKS = 7


def phrase(name: str, **variables: Any) -> str:
    return render(PLATFORM, name, **variables)


def digest_message(digest: Digest) -> Message:
    """The digest as one Slack message: header, summary, a section per new document, the
    questions, and the votes; within 50 blocks and 3,000 characters a section."""
    v = digest_variables(digest, escape=escape, url=slack_url)
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": phrase("digest_header", **v)[:HEADER_LIMIT],
                "emoji": True,
            },
        },
        section(phrase("digest_summary", **v)[:SECTION_LIMIT]),
    ]
    if not digest.quiet:
        room = MAX_BLOCKS - FIXED_BLOCKS
        for document in v["documents"][:room]:
            # Key points are whole sentences: drop the last ones rather than cut one.
            def points(n: int, d: dict = document) -> str:
                return phrase("digest_document", doc={**d, "points": d["points"][:n]})

            _, text = most_that_fit(
                points,
                len(document["points"]),
                SECTION_LIMIT,
            )
            blocks.append(section(text))
        hidden = len(v["documents"]) - room
        if hidden > 0:
            blocks.append(context(phrase("digest_more_documents", hidden=hidden)))
        if v["top"] or v["unanswered"]:
            blocks.append({"type": "divider"})
        for key, template in (("top", "digest_questions"), ("unanswered", "digest_unanswered")):
            if v[key]:
                def listed(n: int, k: str = key, t: str = template) -> str:
                    return phrase(t, **shown(v, k, n))

                _, text = most_that_fit(
                    listed,
                    len(v[key]),
                    SECTION_LIMIT,
                )
                blocks.append(section(text))
    blocks.append(context(phrase("digest_footer", **v)[:SECTION_LIMIT]))
    return {"text": phrase("digest_fallback", **v)[:SECTION_LIMIT], "blocks": blocks[:MAX_BLOCKS]}


class SlackPoster:
    platform = PLATFORM

    def __init__(self, client: AsyncWebClient):
        self.client = client

    async def post(self, channel: str, digest: Digest) -> str:
        # Errors (not_in_channel, a 5xx after the client's retries) propagate: the run is
        # recorded as failed and retried.
        response = await self.client.chat_postMessage(
            channel=channel, unfurl_links=False, unfurl_media=False, **digest_message(digest)
        )
        return str(response["ts"])


# --- /digest ------------------------------------------------------------------------------------


def slack_date(moment: datetime, zone_name: str) -> str:
    """A time Slack shows in each reader's own time zone; the fallback is the channel's."""
    local = moment.astimezone(parse_zone(zone_name))
    fallback = f"{local:%a} {local.day} {local:%b} {local:%H:%M} {local.tzname()}"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


IsAdmin = Callable[[AsyncWebClient, str], Awaitable[bool]]
Respond = Callable[..., Awaitable[None]]


class DigestCommand:
    """``/digest [status] | on [HH:MM] [Zone] [always] | off | now | preview``.

    Anyone may ask for the status; the rest is for workspace admins and owners and
    CITEBOT_ADMIN_IDS. The command is acknowledged first; the answer goes to the response URL.
    """

    def __init__(
        self,
        service: AnswerService,
        is_admin: IsAdmin,
        respond: Respond,
        clock: Callable[[], datetime] = utc_now,
    ):
        if service.state is None:
            raise ValueError("/digest needs the state store")
        self.service = service
        self.state = service.state
        self.is_admin = is_admin
        self.respond = respond
        self.clock = clock

    def runner(self, client: AsyncWebClient) -> DigestRunner:
        return DigestRunner(self.service.index, self.state, [SlackPoster(client)])

    async def handle(self, command: dict, client: AsyncWebClient) -> None:
        words = to_plain(command.get("text") or "").split()
        sub = words[0].lower() if words else "status"
        channel, user, url = command["channel_id"], command["user_id"], command.get("response_url")
        try:
            if sub in ("status", "help"):
                await self.respond(url, await self.status(channel))
            elif sub not in ("on", "off", "now", "preview"):
                await self.respond(url, notice(phrase("digest_usage", command=escape(sub))))
            elif channel.startswith("D"):
                await self.respond(url, notice(phrase("digest_dm")))
            elif not await self.is_admin(client, user):
                log.info("refused /digest %s in %s: not an admin", sub, channel)
                await self.respond(url, notice(phrase("digest_not_admin")))
            elif sub == "on":
                await self.respond(url, await self.switch_on(client, channel, user, words[1:]))
            elif sub == "off":
                await asyncio.to_thread(self.state.set_digest, PLATFORM, channel, enabled=False)
                log.info("digest off in %s", channel)
                await self.respond(url, notice(phrase("digest_set", enabled=False)))
            elif sub == "preview":
                digest = await self.runner(client).preview(PLATFORM, channel, self.clock())
                await self.respond(url, digest_message(digest))
            else:
                result = await self.runner(client).send_now(PLATFORM, channel, self.clock())
                await self.respond(url, notice(phrase("digest_sent", status=result.status)))
        except Exception:
            log.exception("/digest %s failed in %s", sub, channel)
            await self.respond(url, notice(phrase("error")))

    async def status(self, channel: str) -> Message:
        settings = await asyncio.to_thread(self.state.digest_settings, PLATFORM, channel)
        variables = status_variables(settings, self.clock(), slack_date)
        return notice(phrase("digest_status", **variables))

    async def switch_on(
        self, client: AsyncWebClient, channel: str, user: str, words: list[str]
    ) -> Message:
        always = any(word.lower() == "always" for word in words)
        words = [word for word in words if word.lower() != "always"]
        at = words[0] if words else "09:00"
        try:
            zone = words[1] if len(words) > 1 else await self.user_zone(client, user)
            if len(words) > 2:
                raise ScheduleError(f"I don't understand {' '.join(words[2:])}.")
            schedule = Schedule.parse(at, zone)
        except ScheduleError as exc:
            return notice(phrase("digest_bad_schedule", error=escape(str(exc))))
        await asyncio.to_thread(
            self.state.set_digest,
            PLATFORM,
            channel,
            enabled=True,
            at_time=schedule.time_text,
            timezone_name=schedule.zone.key,
            post_empty=always,
            at=self.clock(),
        )
        log.info("digest on in %s at %s", channel, schedule.describe())
        return notice(
            phrase(
                "digest_set",
                enabled=True,
                schedule=schedule.describe(),
                post_empty=always,
                next_run=slack_date(schedule.next_run(self.clock()), schedule.zone.key),
            )
        )

    async def user_zone(self, client: AsyncWebClient, user: str) -> str:
        """The time zone of the person switching the digest on, as Slack knows it."""
        try:
            return (await client.users_info(user=user))["user"].get("tz") or "UTC"
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            return "UTC"
