"""Discord's face of an answer: an embed with the question, the short answer, the quoted passage
and its source, kept within Discord's size limits, plus a plain-text twin for channels where the
bot may not embed. Every piece of user or document text is escaped so it can neither ping anyone
nor break the markdown around it.

Wording lives in ``prompts/discord/*.txt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import discord
from discord.utils import escape_markdown, escape_mentions

from index.models import Answer, Citation, Document
from index.sentences import split_text

from ..render import marked_quote, most_that_fit
from ..templates import render

PLATFORM = "discord"

# Discord's limits (https://discord.com/developers/docs/resources/message#create-message and
# .../resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
MAX_FIELDS = 25
EMBEDS_TOTAL_LIMIT = 6000

# The short answer is a phrase or one sentence; past this it would only push the quote out.
ANSWER_LIMIT = 1000
ELLIPSIS = "…"
# RFC 3986 reserved characters (minus the parentheses that close a masked link) and "%", so an
# already encoded URL keeps its meaning.
URL_SAFE = ":/?#[]@!$&'*+,;=%~"
URL_LIMIT = 1000

ANSWERED_COLOUR = discord.Colour.from_rgb(46, 160, 67)
REFUSED_COLOUR = discord.Colour.light_grey()


@dataclass
class Rendered:
    """One message's worth. ``embeds`` (with ``content``) is the normal form; ``plain`` is the
    same message as text only, for channels where embeds are not allowed or a retry."""

    plain: str
    embeds: list[discord.Embed] = field(default_factory=list)
    content: str | None = None
    view: discord.ui.View | None = None

    def message(self, *, embeds: bool = True) -> dict[str, Any]:
        """Keyword arguments for ``send``/``edit_original_response``."""
        kwargs: dict[str, Any] = {}
        if embeds and self.embeds:
            kwargs.update(content=self.content, embeds=self.embeds)
        else:
            kwargs.update(content=self.plain, embeds=[])
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs


# --- text safety ---------------------------------------------------------------------------------


def safe(text: str) -> str:
    """Markdown-escaped, with @everyone/@here/<@id>/<@&id> broken by a zero-width space.

    ``allowed_mentions`` already stops pings; this also stops the mention *text* from rendering
    as a highlighted mention and stops a quote's ``*`` or ``>`` from restyling the message.
    """
    return no_mentions(_no_link_syntax(escape_markdown(text)))


# escape_markdown's link pattern is greedy: "[a](x) and [b](y)" is one match, so only the first
# "[" gets a backslash and "[b](y)" stays a live link; it also leaves URLs untouched, brackets
# included. So every bracket not already escaped (an even run of backslashes before it) gets one.
# That is not enough on its own: Discord's link rule ignores backslashes when it looks for the
# "](" that ends a label, so one of ours ("[title](url)") could run on to a "\](evil)" in the
# text after it. A "(" right after a "]" is escaped too, which leaves no "](" but ours.
_UNESCAPED_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")


def _no_link_syntax(text: str) -> str:
    return _UNESCAPED_BRACKET.sub(r"\1\\\2", text).replace("](", "]\\(")


# escape_mentions only breaks ids of 17-20 digits, but Discord renders <@123> as a mention too.
_SHORT_ID_MENTION = re.compile(r"<@(?=[!&]?\d+>)")


def no_mentions(text: str) -> str:
    """``text`` with every @everyone, @here, <@id>, <@!id> and <@&id> broken by a zero-width space."""
    return _SHORT_ID_MENTION.sub("<@\u200b", escape_mentions(text))


def safe_url(url: str | None) -> str | None:
    """A URL fit for a masked link ``[title](url)``: web URLs only, with parentheses, spaces and
    anything else that could end the link percent-encoded."""
    if not url or not re.match(r"https?://", url, re.IGNORECASE):
        return None
    # A newline or a bracket left in would end the link early and spill the rest as text.
    url = quote(url, safe=URL_SAFE, errors="surrogatepass")
    # Past this a link could crowd the quote out, or be clipped open in the 2,000-character text.
    return url if len(url) <= URL_LIMIT else None


def one_line(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters; otherwise its longest run of whole sentences
    that fits, with an ellipsis. A first sentence that alone is too long is cut at a word."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    room = limit - len(" " + ELLIPSIS)
    # Split only the part that can fit: a quote can be a whole document's worth.
    ranges = split_text(text[: room + 1]) if room > 0 else []
    # Every sentence but the last was closed by the splitter; the last one may just be where the
    # prefix was cut, so it counts only if it ends like a sentence and the text goes on after it.
    ends = [end for _, end in ranges[:-1]]
    if ranges and _SENTENCE_END.search(text[: ranges[-1][1]]) and text[ranges[-1][1]].isspace():
        ends.append(ranges[-1][1])
    ends = [end for end in ends if 0 < end <= room]
    if ends:
        return text[: ends[-1]] + " " + ELLIPSIS
    cut = text.rfind(" ", 0, limit)  # the ellipsis takes the space's place
    if cut <= 0:
        cut = limit - len(ELLIPSIS)
    return text[:cut].rstrip() + ELLIPSIS


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def fit(template: str, limit: int, shrink: tuple[str, ...] = (), **variables: Any) -> str:
    """Render ``prompts/discord/<template>.txt`` within ``limit`` characters by clipping the
    ``shrink`` variables in order (each at a sentence boundary), then the text itself."""
    text = render(PLATFORM, template, **variables)
    for name in shrink:
        for _ in range(3):  # a variable used twice overshoots once; a few passes settle it
            overflow = len(text) - limit
            value = variables[name]
            if overflow <= 0 or not value:
                break
            variables[name] = clip(value, max(len(value) - overflow, 0))
            text = render(PLATFORM, template, **variables)
    return clip(text, limit)


# --- answers -------------------------------------------------------------------------------------


def _citation_variables(citation: Citation | None) -> dict[str, Any]:
    if citation is None:
        return {"quote": "", "title": "", "paragraph": 0, "url": None}
    return {
        "quote": marked_quote(citation, safe, "**"),
        "title": safe(one_line(citation.title)),
        "paragraph": citation.paragraph,
        "url": safe_url(citation.url),
    }


def answer_message(answer: Answer, view: discord.ui.View | None = None) -> Rendered:
    """The reply to a question: answered, or refused with the closest passage."""
    best = _citation_variables(answer.best)
    if answer.answered:
        variables = dict(best, answer=clip(safe(one_line(answer.answer)), ANSWER_LIMIT))
        shrink: tuple[str, ...]
        template, shrink, colour = "answer", ("quote", "answer", "title"), ANSWERED_COLOUR
    else:
        variables = dict(best, refusal=answer.refusal or "not_in_documents")
        template, shrink, colour = "no_answer", ("quote", "title"), REFUSED_COLOUR

    embed = discord.Embed(
        title=clip(safe(one_line(answer.question)), TITLE_LIMIT) or None,
        description=fit(template, DESCRIPTION_LIMIT, shrink, **variables),
        colour=colour,
    )
    if answer.answered:
        # A refused question shows only its closest passage; more passages would be noise.
        for citation in answer.citations[1:]:
            _add_field(embed, citation)
    return Rendered(
        plain=fit(template, CONTENT_LIMIT, shrink, **variables), embeds=[embed], view=view
    )


def _add_field(embed: discord.Embed, citation: Citation) -> None:
    if len(embed.fields) >= MAX_FIELDS:
        return
    variables = _citation_variables(citation)
    name = fit("also_name", FIELD_NAME_LIMIT, ("title",), **variables)
    room = min(FIELD_VALUE_LIMIT, EMBEDS_TOTAL_LIMIT - len(embed) - len(name))
    if room < 200:  # not enough left for a readable passage: leave it out rather than a stub
        return
    embed.add_field(name=name, value=fit("also", room, ("quote",), **variables), inline=False)


# --- other messages ------------------------------------------------------------------------------


def notice(text: str) -> Rendered:
    """A short text message (an error, a usage hint) with any user text neutralised."""
    return Rendered(plain=clip(no_mentions(text), CONTENT_LIMIT))


def template_notice(name: str, **variables: Any) -> Rendered:
    return notice(render(PLATFORM, name, **variables))


def apology() -> Rendered:
    return template_notice("error")


def help_message(bot_name: str, menu_name: str) -> Rendered:
    text = fit("help", DESCRIPTION_LIMIT, bot_name=safe(bot_name), menu_name=safe(menu_name))
    embed = discord.Embed(description=text, colour=ANSWERED_COLOUR)
    return Rendered(plain=clip(text, CONTENT_LIMIT), embeds=[embed])


def sources_message(documents: list[Document]) -> Rendered:
    """The indexed documents, as many as fit; the rest are counted."""
    rows = [
        {
            "title": safe(one_line(d.title)),
            "url": safe_url(d.url),
            "paragraphs": len(d.paragraphs),
            "author": safe(one_line(d.metadata.get("author", ""))),
            "doc_id": safe(d.doc_id),  # what /forget takes
        }
        for d in sorted(documents, key=lambda d: d.title.lower())
    ]

    def listing(limit: int) -> str:
        def text(shown: int) -> str:
            return render(
                PLATFORM,
                "sources",
                documents=rows[:shown],
                total=len(rows),
                hidden=len(rows) - shown,
            )

        shown, _ = most_that_fit(text, len(rows), limit)
        # At least one row, clipped, rather than a list that shows none.
        return clip(text(max(shown, min(1, len(rows)))), limit)

    embed = discord.Embed(description=listing(DESCRIPTION_LIMIT), colour=ANSWERED_COLOUR)
    return Rendered(plain=listing(CONTENT_LIMIT), embeds=[embed])
