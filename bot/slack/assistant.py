"""Slack's Agents & AI Apps pane: CiteBot in the side panel next to the channel a person reads.

bolt's :class:`AsyncAssistant` middleware routes the pane's three events here and hands each
listener ``say``, ``set_status``, ``set_title``, ``set_suggested_prompts`` and the thread context
(the channel the person is viewing). That context is kept where bolt keeps it by default: in the
metadata of CiteBot's first message in the thread, so it needs no table of ours and survives a
restart.

The pane is a DM thread with CiteBot, but it answers from the collections of the channel being
viewed — the documents the person sees there — and from the DM collections when no channel is
in view. Answers are the same blocks, citations and feedback buttons as anywhere else, through
:class:`~bot.slack.listeners.Listeners`' shared steps; a follow-up is read with the thread's
earlier question, as in a channel thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from index.models import Document

from ..service import Question
from . import render
from .listeners import PLATFORM, Listeners
from .text import no_pings, strip_mention, to_plain

log = logging.getLogger("citebot.slack")

MAX_PROMPTS = 4  # the most suggested prompts Slack's pane shows
PROMPT_TITLE_LIMIT = 75  # a prompt's title is a button in a narrow pane
_ANGLE = re.compile(r"[<>]")


def suggested_prompts(documents: list[Document]) -> list[dict[str, str]]:
    """Up to :data:`MAX_PROMPTS` prompts, one per document, in the index's order."""
    prompts = []
    for document in documents[:MAX_PROMPTS]:
        # A prompt's message is sent as if the person typed it: a title must not become a
        # mention ("@here") or Slack markup ("<!channel>") on the way.
        title = no_pings(_ANGLE.sub("", " ".join(document.title.split())))
        prompts.append(
            {
                "title": render.cut_words(title, PROMPT_TITLE_LIMIT),
                "message": render.phrase("assistant_prompt", title=title),
            }
        )
    return prompts


class AssistantPane:
    def __init__(self, listeners: Listeners):
        self.listeners = listeners
        self.service = listeners.service

    def middleware(self) -> AsyncAssistant:
        assistant = AsyncAssistant(logger=logging.getLogger("citebot.slack.bolt"))
        assistant.thread_started(self.on_thread_started)
        assistant.thread_context_changed(self.on_context_changed)
        assistant.user_message(self.on_user_message)
        return assistant

    # --- the pane's events -------------------------------------------------------------------

    async def on_thread_started(
        self, event: dict, say: Callable[..., Awaitable[Any]], set_suggested_prompts: Callable
    ) -> None:
        thread = event["assistant_thread"]
        context = thread.get("context") or {}
        viewing = context.get("channel_id")
        documents = await self.documents_for(thread["channel_id"], viewing)
        greeting = render.template_notice(
            "assistant_greeting", documents=len(documents), viewing=bool(viewing)
        )
        # The thread context goes in this first message's metadata, in the shape bolt's default
        # context store reads back; given here so that "no channel in view" is {} (not null).
        metadata = {"event_type": "assistant_thread_context", "event_payload": context}
        await quietly("chat.postMessage", say(**greeting, metadata=metadata))
        await self.suggest(set_suggested_prompts, documents, viewing)

    async def on_context_changed(
        self, event: dict, save_thread_context: Callable, set_suggested_prompts: Callable
    ) -> None:
        thread = event["assistant_thread"]
        context = thread.get("context") or {}
        await quietly("chat.update", save_thread_context(context))
        # The prompts follow the channel in view, so they never offer another channel's documents.
        viewing = context.get("channel_id")
        documents = await self.documents_for(thread["channel_id"], viewing)
        await self.suggest(set_suggested_prompts, documents, viewing)

    async def on_user_message(
        self,
        event: dict,
        body: dict,
        context: Any,
        client: AsyncWebClient,
        set_status: Callable,
        set_title: Callable,
        get_thread_context: Callable,
    ) -> None:
        if not await self.listeners.first_delivery(body):
            return
        channel, root = event["channel"], event["thread_ts"]
        text = to_plain(strip_mention(event.get("text") or "", context.bot_user_id)).strip()
        if not text:
            await self.listeners.post_notice(client, channel, root, "empty_question")
            return
        earlier = await self.listeners.earlier_question(channel, root)
        if earlier is None:  # the first question names the thread; follow-ups keep that name
            await quietly(
                "assistant.threads.setTitle", set_title(render.cut_words(text, render.TITLE_LIMIT))
            )
        # Slack clears the status itself when CiteBot's reply is posted.
        await quietly("assistant.threads.setStatus", set_status(render.phrase("assistant_status")))
        thread_context = await self.thread_context(get_thread_context)
        question = Question(
            PLATFORM,
            channel,
            event.get("user", ""),
            text,
            thread=root,
            follow_up=earlier is not None,
            collections_from=thread_context.get("channel_id"),
        )
        await self.listeners.answer_in_thread(client, question, channel, root)

    # --- shared steps ------------------------------------------------------------------------

    async def documents_for(self, dm_channel: str, viewing: str | None) -> list[Document]:
        """What the person can see: the viewed channel's collections, else the DM ones."""
        collections = await self.service.collections_for(PLATFORM, viewing or dm_channel)
        return await asyncio.to_thread(self.service.index.documents, collections)

    async def suggest(
        self, set_suggested_prompts: Callable, documents: list[Document], viewing: str | None
    ) -> None:
        prompts = suggested_prompts(documents)
        if not prompts:
            return  # Slack refuses an empty list; the greeting says there is nothing to ask about
        title = render.phrase("assistant_prompts_title", viewing=bool(viewing))
        await quietly(
            "assistant.threads.setSuggestedPrompts",
            set_suggested_prompts(prompts=prompts, title=title),
        )

    @staticmethod
    async def thread_context(get_thread_context: Callable) -> dict:
        try:
            return dict(await get_thread_context() or {})
        except SlackApiError as exc:
            # Without the context the question is still answered, from the DM collections.
            log.warning("could not read the assistant thread's context: %s",
                        exc.response.get("error"))
            return {}


async def quietly(method: str, call: Awaitable[Any]) -> None:
    """Await a Slack call whose failure must not stop the answer (a status, a title, prompts)."""
    try:
        await call
    except SlackApiError as exc:
        log.warning("%s failed: %s", method, exc.response.get("error"))
