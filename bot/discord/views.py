"""👍/👎 buttons whose custom ids carry the answer's record id ("citebot:vote:up:42").

The id is all a click needs, so any answer ever sent keeps working after a restart: discord.py
matches the custom id against :class:`VoteButton`'s template (a ``DynamicItem``) instead of
looking for a view held in memory. The same id, read back from an answer someone replies to,
tells which conversation the reply continues.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from . import render, sending

if TYPE_CHECKING:
    from .bot import CiteBot

VOTE_ID = re.compile(r"citebot:vote:(?P<direction>up|down):(?P<question_id>[0-9]{1,19})")
BUTTONS = {"up": ("👍", "Helpful", 1), "down": ("👎", "Not helpful", -1)}


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=VOTE_ID):
    def __init__(self, direction: str, question_id: int):
        emoji, label, self.vote = BUTTONS[direction]
        self.question_id = question_id
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=emoji,
                label=label,
                custom_id=f"citebot:vote:{direction}:{question_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VoteButton:
        return cls(match["direction"], int(match["question_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # A vote is stored per person per answer; a second click replaces the first.
        service = cast("CiteBot", interaction.client).service
        assert service is not None  # buttons are only registered on a bot that answers
        stored = await service.vote(self.question_id, str(interaction.user.id), self.vote)
        rendered = (
            render.template_notice("voted", vote=self.vote)
            if stored
            else render.template_notice("vote_unknown")
        )
        await sending.send_response(interaction, rendered, ephemeral=True)


def feedback_view(question_id: int | None) -> discord.ui.View | None:
    """The buttons for an answer; none when the answer was not stored (nothing to vote on)."""
    if question_id is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", question_id))
    view.add_item(VoteButton("down", question_id))
    return view


def question_id_in(message: discord.Message) -> int | None:
    """The record id in a CiteBot answer's vote buttons, if the message has them."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            match = VOTE_ID.fullmatch(getattr(child, "custom_id", None) or "")
            if match:
                return int(match["question_id"])
    return None
