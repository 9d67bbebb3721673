"""Questions, however they are asked: ``/ask``, an @mention, a reply to an answer, a DM, or the
"Ask CiteBot" message menu. Each becomes a :class:`~bot.service.Question`; the answer goes back
where the question came from."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import QuestionError

from ...service import Question
from .. import render, sending
from ..installs import SERVER_ONLY, everywhere_context, everywhere_install, sees_dm_collections
from ..views import feedback_view, question_id_in

if TYPE_CHECKING:
    from ..bot import CiteBot

log = logging.getLogger("citebot.discord")

PLATFORM = "discord"
MENU_NAME = "Ask CiteBot"
MAX_QUESTION = 2000  # the index refuses longer questions; Discord enforces this on the option
_USER_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)
# An answer quicker than this needs no typing indicator; a slower one renews it before Discord's
# lapses (about 10 s).
TYPING_AFTER = 0.5
TYPING_EVERY = 8.0


class Ask(commands.Cog):
    """Answers questions with the passage they come from."""

    def __init__(self, bot: CiteBot):
        self.bot = bot
        # discord.py has no decorator for context menus inside a cog; the menu is built here and
        # added to (and removed from) the tree with the cog.
        self.menu = app_commands.ContextMenu(
            name=MENU_NAME, callback=self.ask_about_message, allowed_installs=SERVER_ONLY
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    # --- the ways in -----------------------------------------------------------------------------

    @app_commands.command(
        name="ask", description="Ask a question; the answer quotes the passage it comes from"
    )
    @app_commands.describe(question="What you want to know", private="Only you see the answer")
    @everywhere_install
    @everywhere_context
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION],
        private: bool = False,
    ) -> None:
        await interaction.response.defer(thinking=True, ephemeral=private)
        rendered = await self.answer(
            self.question_from(interaction, question, thread=str(interaction.id))
        )
        await sending.edit_response(interaction, rendered)

    async def ask_about_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        await interaction.response.defer(thinking=True)
        rendered = await self.answer(
            self.question_from(interaction, message.content, thread=str(message.id))
        )
        await sending.edit_response(interaction, rendered)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = await self.question_in(message)
        if question is None:
            return
        if question.text:
            rendered = await self.answer_typing(message.channel, question)
        elif (
            message.guild is not None
            and not self.bot.intents.message_content
            and not self.mentions_me(message)
        ):
            # Without the Message Content intent a reply that does not ping arrives empty.
            rendered = render.template_notice("mention_needed")
        else:
            rendered = render.template_notice("usage", bot_name=self.bot.me.display_name)
        await sending.reply(message, rendered)

    # --- the logic -------------------------------------------------------------------------------

    async def answer(self, question: Question) -> render.Rendered:
        """The rendered answer; a clear message for an unusable question; an apology, never
        silence, when anything else goes wrong."""
        try:
            reply = await self.bot.answers.ask(question)
            return render.answer_message(reply.answer, feedback_view(reply.question_id))
        except QuestionError as exc:
            return render.notice(str(exc))
        except Exception:
            log.exception("could not answer a question in channel %s", question.channel)
            return render.apology()

    async def answer_typing(self, channel: discord.abc.Messageable, question: Question
                            ) -> render.Rendered:
        """:meth:`answer`, with "CiteBot is typing…" shown while it takes more than a moment (a
        language model may take seconds; a slash command shows "thinking" instead)."""
        typing = asyncio.create_task(self._keep_typing(channel))
        try:
            return await self.answer(question)
        finally:
            typing.cancel()

    @staticmethod
    async def _keep_typing(channel: discord.abc.Messageable) -> None:
        await asyncio.sleep(TYPING_AFTER)
        while True:
            try:
                await channel.typing()  # one indicator, which Discord shows for about 10 s
            except discord.Forbidden:
                return  # not allowed here: the answer still goes out
            except discord.HTTPException:
                pass
            await asyncio.sleep(TYPING_EVERY)

    def question_from(
        self, interaction: discord.Interaction, text: str, *, thread: str
    ) -> Question:
        return Question(
            platform=PLATFORM,
            channel=str(interaction.channel_id),
            user=str(interaction.user.id),
            text=text,
            thread=thread,
            direct=sees_dm_collections(interaction),
        )

    async def question_in(self, message: discord.Message) -> Question | None:
        """The question ``message`` asks CiteBot, or None when it is not addressed to CiteBot:
        in a DM every message is; in a channel, a mention or a reply to one of its messages is."""
        if message.author.bot or message.type not in _USER_MESSAGES:
            return None
        replied_to = self.replied_to_me(message)
        if message.guild is not None and replied_to is None and not self.mentions_me(message):
            return None
        thread, follow_up = str(message.id), False
        if replied_to is not None:
            thread, follow_up = await self.conversation_of(replied_to), True
        return Question(
            platform=PLATFORM,
            channel=str(message.channel.id),
            user=str(message.author.id),
            text=self.without_mentions_of_me(message),
            thread=thread,
            follow_up=follow_up,
            direct=message.guild is None,
        )

    def mentions_me(self, message: discord.Message) -> bool:
        me = self.bot.me
        if any(user.id == me.id for user in message.mentions):
            return True  # an @mention, or a reply with its ping left on
        # People often pick the bot's managed role from the @ list instead of the bot itself.
        own_role = message.guild.self_role if message.guild else None
        return own_role is not None and own_role in message.role_mentions

    def replied_to_me(self, message: discord.Message) -> discord.Message | None:
        reference = message.reference
        resolved = reference.resolved if reference is not None else None
        if isinstance(resolved, discord.Message) and resolved.author.id == self.bot.me.id:
            return resolved
        return None

    def without_mentions_of_me(self, message: discord.Message) -> str:
        tokens = [rf"<@!?{self.bot.me.id}>"]
        own_role = message.guild.self_role if message.guild else None
        if own_role is not None:
            tokens.append(rf"<@&{own_role.id}>")
        text = re.sub("|".join(tokens), " ", message.content)
        return " ".join(text.split()).lstrip(",:;- ").strip()

    async def conversation_of(self, answer: discord.Message) -> str:
        """The thread key of the conversation ``answer`` belongs to, so that a reply to it is
        asked with the conversation's last question as context.

        A conversation is keyed by the message (or interaction) that started it. An answer's vote
        buttons carry its record id, whose record holds that key — this works however deep the
        reply chain is. Without buttons (the store was down), the answered message is the key,
        which is right for the first reply.
        """
        question_id = question_id_in(answer)
        if question_id is not None:
            thread = await self.thread_of(question_id, answer.channel.id)
            if thread:
                return thread
        reference = answer.reference
        return str(reference.message_id) if reference and reference.message_id else str(answer.id)

    async def thread_of(self, question_id: int, channel_id: int) -> str | None:
        return await self.bot.answers.thread_of(PLATFORM, str(channel_id), question_id)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Ask(bot))
