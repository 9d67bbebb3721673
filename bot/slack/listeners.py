"""What CiteBot does with each thing Slack sends.

Each listener translates a Slack payload into a plain :class:`~bot.service.Question` (or a vote),
hands it to :class:`~bot.service.AnswerService`, and sends back what :mod:`.render` makes of the
answer. Whatever goes wrong, the person who asked gets a reply and the log gets a line.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from index.errors import QuestionError

from ..service import AnswerService, Question
from ..settings import Settings
from . import render
from .clients import webhook_client
from .digest import DigestCommand
from .render import Message
from .text import escape, looks_like_question, strip_mention, to_plain

log = logging.getLogger("citebot.slack")

PLATFORM = "slack"
SHORTCUT_ID = "ask_citebot"
SHARE_FLAG = "--share"
# chat.postMessage errors meaning "you can't post here", where an apology would fail the same way.
NO_ACCESS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


def parse_ask(text: str) -> tuple[str, bool]:
    """``/ask`` text split into (question, share); ``--share`` may come first or last."""
    words = (text or "").split()
    share = False
    if words and words[0].lower() == SHARE_FLAG:
        share, words = True, words[1:]
    if words and words[-1].lower() == SHARE_FLAG:
        share, words = True, words[:-1]
    return " ".join(words), share


class Listeners:
    def __init__(self, service: AnswerService, settings: Settings):
        if service.state is None:
            raise ValueError("The Slack app needs a state store (AnswerService(index, state)).")
        self.service = service
        self.state = service.state
        self.admin_ids = frozenset(settings.admin_ids)

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.command("/ask")(self.on_ask)
        app.command("/sources")(self.on_sources)
        app.command("/citebot")(self.on_citebot)
        app.command("/digest")(self.on_digest)
        app.shortcut(SHORTCUT_ID)(self.on_shortcut)
        app.action(re.compile(f"^({render.VOTE_UP}|{render.VOTE_DOWN})$"))(self.on_vote)
        app.error(self.on_error)

    # --- events ------------------------------------------------------------------------------

    async def on_mention(
        self, event: dict, body: dict, context: Any, client: AsyncWebClient
    ) -> None:
        if event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D"):
            return  # the message.im event answers direct messages
        await self._answer_event(client, body, context.bot_user_id)

    async def on_message(
        self, event: dict, body: dict, context: Any, client: AsyncWebClient
    ) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, other bots
        text = event.get("text") or ""
        if event.get("channel_type") == "im":
            await self._answer_event(client, body, context.bot_user_id)
            return
        if context.bot_user_id and f"<@{context.bot_user_id}" in text:
            return  # the app_mention event answers it
        if not looks_like_question(to_plain(text)):
            return
        channel, root = event["channel"], _thread_root(event)
        if root:
            earlier = await self._store(
                self.state.last_question_in_thread, PLATFORM, channel, root, default=None
            )
            if earlier is None:
                return  # a thread CiteBot has not answered in
        elif not await self._store(self.state.answer_all, PLATFORM, channel, default=False):
            return
        await self._answer_event(client, body, context.bot_user_id)

    async def _answer_event(
        self, client: AsyncWebClient, body: dict, bot_user_id: str | None
    ) -> None:
        if not await self.first_delivery(body):
            return
        event = body["event"]
        channel, ts = event["channel"], event["ts"]
        root = _thread_root(event)
        in_dm = event.get("channel_type") == "im" or channel.startswith("D")
        reply_in = root or (None if in_dm else ts)
        text = to_plain(strip_mention(event.get("text") or "", bot_user_id)).strip()
        if not text:
            await self._post(client, channel, reply_in, render.template_notice("empty_question"))
            return
        question = Question(
            PLATFORM, channel, event.get("user", ""), text, thread=root or ts, follow_up=bool(root)
        )
        message, _ = await self._compose(question)
        await self._post(client, channel, reply_in, message)

    async def first_delivery(self, body: dict) -> bool:
        """False for a copy of an event CiteBot has already taken (then logged)."""
        # Slack re-delivers an event (same event_id, X-Slack-Retry-Num) when an ack was slow or
        # lost, and bolt runs listeners for every copy; claiming the id in the shared store here,
        # not in a middleware, costs a write only for the events CiteBot answers.
        event_id = body.get("event_id")
        if event_id and not await self._store(
            self.state.first_time, f"slack:event:{event_id}", default=True
        ):
            log.info("skipped Slack event %s: already answered", event_id)
            return False
        return True

    async def answer_in_thread(
        self, client: AsyncWebClient, question: Question, channel: str, thread_ts: str
    ) -> None:
        """Post the answer to ``question`` in a thread (the assistant pane's), apologising on
        failure — the same message and steps as every other answer."""
        message, _ = await self._compose(question)
        await self._post(client, channel, thread_ts, message)

    async def post_notice(
        self, client: AsyncWebClient, channel: str, thread_ts: str, name: str
    ) -> None:
        await self._post(client, channel, thread_ts, render.template_notice(name))

    async def earlier_question(self, channel: str, thread: str) -> str | None:
        """The last question CiteBot answered in a thread; None for a new one (or a store down)."""
        return await self._store(
            self.state.last_question_in_thread, PLATFORM, channel, thread, default=None
        )

    # --- slash commands ----------------------------------------------------------------------

    async def on_ask(self, ack: Callable, command: dict) -> None:
        text, share = parse_ask(command.get("text", ""))
        if not to_plain(text).strip():
            await ack(**render.template_notice("usage"), response_type="ephemeral")
            return
        await ack()
        question = Question(PLATFORM, command["channel_id"], command["user_id"], to_plain(text))
        message, answered = await self._compose(question, asked=text)
        visibility = "in_channel" if share and answered else "ephemeral"
        await self.respond(command.get("response_url"), message, response_type=visibility)

    async def on_sources(self, ack: Callable, command: dict) -> None:
        await ack()
        try:
            # Only the collections this channel sees: another channel's documents stay unnamed.
            visible = await self.service.collections_for(PLATFORM, command["channel_id"])
            documents = await asyncio.to_thread(self.service.index.documents, visible)
            message = render.sources_message(documents)
        except Exception:
            log.exception("could not list the documents for /sources")
            message = render.template_notice("error")
        await self.respond(command.get("response_url"), message)

    async def on_citebot(self, ack: Callable, command: dict, client: AsyncWebClient) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub == "help":
            await ack(**render.template_notice("help"), response_type="ephemeral")
        elif sub == "answer-all":
            await ack()
            await self._answer_all(client, command, words[1].lower() if len(words) > 1 else "")
        else:
            unknown = render.phrase("unknown_command", command=escape(to_plain(sub)))
            help_text = render.phrase("help")
            await ack(**render.notice(f"{unknown}\n{help_text}"), response_type="ephemeral")

    async def _answer_all(self, client: AsyncWebClient, command: dict, setting: str) -> None:
        channel, user, url = command["channel_id"], command["user_id"], command.get("response_url")
        if setting not in ("on", "off"):
            enabled = await self._store(self.state.answer_all, PLATFORM, channel, default=False)
            await self.respond(url, render.template_notice("answer_all_status", enabled=enabled))
            return
        if channel.startswith("D"):
            await self.respond(url, render.template_notice("answer_all", enabled=True, is_dm=True))
            return
        if not await self.is_admin(client, user):
            log.info("refused answer-all %s in %s: not an admin", setting, channel)
            await self.respond(url, render.template_notice("not_admin"))
            return
        try:
            await asyncio.to_thread(self.state.set_answer_all, PLATFORM, channel, setting == "on")
        except Exception:
            log.exception("could not store answer-all for %s", channel)
            await self.respond(url, render.template_notice("error"))
            return
        log.info("answer-all %s in %s", setting, channel)
        await self.respond(
            url, render.template_notice("answer_all", enabled=setting == "on", is_dm=False)
        )

    async def on_digest(self, ack: Callable, command: dict, client: AsyncWebClient) -> None:
        # Acknowledged at once: a preview builds the digest, which can outlast Slack's 3 s.
        await ack()
        await DigestCommand(self.service, self.is_admin, self.respond).handle(command, client)

    async def is_admin(self, client: AsyncWebClient, user: str) -> bool:
        if user in self.admin_ids:
            return True
        try:
            info = (await client.users_info(user=user))["user"]
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            return False
        return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))

    # --- interactivity -----------------------------------------------------------------------

    async def on_shortcut(
        self, ack: Callable, shortcut: dict, context: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        selected = shortcut.get("message") or {}
        channel, user = shortcut["channel"]["id"], shortcut["user"]["id"]
        url = shortcut.get("response_url")
        raw = strip_mention(selected.get("text") or "", context.bot_user_id)
        text = to_plain(raw).strip()
        if not text:
            await self.respond(url, render.template_notice("no_text"))
            return
        root = _thread_root(selected)
        thread = root or selected.get("ts")
        question = Question(PLATFORM, channel, user, text, thread=thread, follow_up=bool(root))
        message, _ = await self._compose(question, asked=raw)
        error = await self._post(client, channel, thread, message, apologise=False)
        if error in NO_ACCESS:
            # Still answer the person who asked, privately, and say how to get it in the thread.
            note = render.context(render.phrase("not_in_channel"))
            await self.respond(
                url, {**message, "blocks": (message["blocks"] + [note])[: render.MAX_BLOCKS]}
            )
        elif error is not None:
            await self.respond(url, render.template_notice("error"))

    async def on_vote(
        self, ack: Callable, body: dict, action: dict, client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        url = body.get("response_url")
        vote = 1 if action["action_id"] == render.VOTE_UP else -1
        try:
            question_id = int(action.get("value", ""))
        except ValueError:
            question_id = None
        if question_id is None or not await self.service.vote(question_id, user, vote):
            log.warning("vote on an unknown answer %r", action.get("value"))
            await self.respond(url, render.template_notice("vote_failed"), replace_original=False)
            return
        # While the store is down the vote is kept for later, but there is no tally to show.
        up, down = await self._store(self.state.votes, question_id, default=(None, None))
        container = body.get("container") or {}
        message = body.get("message")
        if not container.get("is_ephemeral") and message:
            try:
                await client.chat_update(
                    channel=container.get("channel_id") or body["channel"]["id"],
                    ts=container.get("message_ts") or message["ts"],
                    text=message.get("text") or "CiteBot answer",
                    blocks=render.with_thanks(message.get("blocks") or [], up, down),
                )
                return
            except SlackApiError as exc:
                log.warning(
                    "could not update the answer after a vote: %s", exc.response.get("error")
                )
        # An ephemeral answer (or one we may not edit) gets the thank-you privately instead.
        await self.respond(
            url, render.template_notice("thanks", up=up, down=down), replace_original=False
        )

    async def on_error(self, error: Exception, body: dict) -> None:
        log.error(
            "unhandled error in a Slack listener (payload type %s)",
            body.get("type"),
            exc_info=error,
        )

    # --- shared steps ------------------------------------------------------------------------

    async def _compose(
        self, question: Question, *, asked: str | None = None
    ) -> tuple[Message, bool]:
        """The message answering ``question`` and whether it is an answer (not an error)."""
        try:
            reply = await self.service.ask(question)
            return render.answer_message(reply.answer, reply.question_id, asked=asked), True
        except QuestionError as exc:
            return render.notice(escape(str(exc))), False
        except Exception:
            log.exception("could not answer a Slack question in %s", question.channel)
            return render.template_notice("error"), False

    async def _post(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        message: Message,
        *,
        apologise: bool = True,
    ) -> str | None:
        """Post ``message``; on failure log it, apologise where possible, return Slack's error."""
        try:
            await client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **message,
            )
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            log.error(
                "chat.postMessage to %s failed: %s %s",
                channel,
                error,
                exc.response.get("errors", ""),
            )
        except Exception:
            log.exception("chat.postMessage to %s failed", channel)
            error = "exception"
        if apologise and error not in NO_ACCESS:
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, **render.template_notice("error")
                )
            except Exception:
                log.exception("could not post the apology to %s either", channel)
        return error

    async def respond(
        self,
        url: str | None,
        message: Message,
        *,
        response_type: str = "ephemeral",
        replace_original: bool | None = None,
    ) -> None:
        if not url:
            log.error("no response_url to answer with")
            return
        body: dict[str, Any] = {**message, "response_type": response_type}
        if replace_original is not None:
            body["replace_original"] = replace_original
        try:
            response = await webhook_client(url).send_dict(body)
        except Exception:
            log.exception("sending to the response_url failed")
            return
        if response.status_code != 200:
            log.error("the response_url answered %s: %s", response.status_code, response.body)

    async def _store(self, function: Callable, *args: Any, default: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args)
        except Exception:  # the store helps answering but must never stop it
            log.exception("state store call %s failed", getattr(function, "__name__", function))
            return default


def _thread_root(message: dict) -> str | None:
    """The thread a message is a reply in; None for a top-level message (even a thread parent)."""
    root = message.get("thread_ts")
    return root if root and root != message.get("ts") else None
