"""No masked link ``[label](url)`` forms on Discord from document or question text, however many
links and brackets a string holds: the only links in a message are the ones CiteBot puts there,
to a source URL it knows. Checked by parsing the rendered text the way Discord's markdown does
(simple-markdown's link rule, after its escape rule), in every field of every message kind."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord import render
from bot.discord.cogs.documents import added_message
from bot.documents import Added
from index.models import Answer, Citation, Document, Span

# simple-markdown's link rule (discord's markdown parser derives from it): a label may hold
# balanced brackets and even a "]" when another follows, and knows nothing of backslashes, so it
# is the more permissive reading of the label; the escape rule runs before it at each position.
_LINK_INSIDE = r"(?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*"
_HREF = r"\s*<?((?:\([^)]*\)|[^\s\\]|\\.)*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*"
LINK = re.compile(r"\[(" + _LINK_INSIDE + r")\]\(" + _HREF + r"\)")
ESCAPE = re.compile(r"\\[^0-9A-Za-z\s]")
AUTOLINK = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")


def masked_links(text: str, *, skip_urls: bool) -> list[tuple[str, str]]:
    """Every ``(label, href)`` Discord would render as a masked link in ``text``, labels' own
    contents included. ``skip_urls`` reads a bare URL as one token (its autolink rule); without
    it, brackets inside a URL are looked at too, the stricter reading."""
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if ESCAPE.match(text, i):
            i += 2
            continue
        if skip_urls and (url := AUTOLINK.match(text, i)):
            i = url.end()
            continue
        link = LINK.match(text, i)
        if link:
            found.append((link.group(1), link.group(2)))
            found += masked_links(link.group(1), skip_urls=skip_urls)
            i = link.end()
            continue
        i += 1
    return found


def texts_of(rendered: render.Rendered) -> list[str]:
    texts = [rendered.plain, rendered.content or ""]
    for embed in rendered.embeds:
        texts += [embed.title or "", embed.description or ""]
        texts += [t for f in embed.fields for t in (f.name, f.value)]
    return texts


def assert_only_our_links(rendered: render.Rendered, ours: set[str]) -> None:
    for text in texts_of(rendered):
        for skip_urls in (True, False):
            for label, href in masked_links(text, skip_urls=skip_urls):
                assert href in ours, (label, href, text[:400])


def citation(quote: str, title: str = "A title", url: str | None = None) -> Citation:
    return Citation(
        document="d", title=title, source="/docs/d.md", paragraph=4, quote=quote, score=0.5,
        url=url, start=0, end=len(quote),
    )


def document(title: str, url: str | None = None, author: str = "") -> Document:
    return Document(
        doc_id="doc-[1](https://evil.example/id)", title=title, source="/docs/d.md", url=url,
        text="Some text.", paragraphs=[Span(0, 10)], metadata={"author": author} if author else {},
    )


TWO_LINKS = "See [docs](https://ok.example) and [click here](https://evil.example) now."
NAMED = {
    "two links in one sentence": TWO_LINKS,
    "three links": "[a](https://evil.example/1) [b](https://evil.example/2) [c](https://evil.example/3)",
    "a backslash before the bracket": "\\[click](https://evil.example) here",
    "two backslashes before the bracket": "\\\\[click](https://evil.example) here",
    "a link inside a bare URL": "https://ok.example/[x](https://evil.example)",
    "a link right after a bare URL": "https://ok.example [x](https://evil.example)",
    "angle-bracket target": "[click](<https://evil.example>) and [b](https://evil.example)",
    "nested brackets": "[[x]](https://evil.example) and [y [z]](https://evil.example)",
    "a label that closes ours": "Staff Handbook](https://evil.example/title) (",
    "an unbalanced opener": "[[[ [open](https://evil.example)",
    "newline between": "[one](https://ok.example)\n[two](https://evil.example)",
    "link with a title": '[a](https://ok.example "t") [b](https://evil.example "t")',
}
SOURCE = "https://docs.example/handbook"


@pytest.mark.parametrize("text", NAMED.values(), ids=NAMED.keys())
def test_no_masked_link_forms_in_any_field_of_an_answer(text):
    for answered in (True, False):
        answer = Answer(
            question=text,
            answered=answered,
            answer=text if answered else "",
            citations=[citation(text, title=text, url=SOURCE), citation(text, title=text)] * 3,
            refusal=None if answered else "not_in_documents",
        )
        rendered = answer_message_with_field_room(answer)
        assert_only_our_links(rendered, {SOURCE})


def answer_message_with_field_room(answer: Answer) -> render.Rendered:
    rendered = render.answer_message(answer)
    if answer.answered:  # the "also" fields are rendered too, so they are checked too
        assert rendered.embeds[0].fields
    return rendered


@pytest.mark.parametrize("text", NAMED.values(), ids=NAMED.keys())
def test_no_masked_link_forms_in_sources_added_or_notices(text):
    listing = render.sources_message([document(text, SOURCE, author=text), document(text)])
    assert_only_our_links(listing, {SOURCE})
    added = Added(doc_id=text, title=text, collection="default", status="added", passages=1,
                  sentences=1, url=SOURCE, key_point=text, key_point_paragraph=1)
    assert_only_our_links(added_message(added), {SOURCE})
    assert_only_our_links(render.notice(render.safe(text)), set())


def test_the_reported_sentence_is_quoted_as_text():
    """The issue's case: the second link of a document sentence stayed clickable."""
    answer = Answer(question="q", answered=True, answer=TWO_LINKS,
                    citations=[citation(TWO_LINKS, url=SOURCE)])
    description = render.answer_message(answer).embeds[0].description
    assert "\\[click here\\]\\(https://evil.example)" in description
    assert masked_links(description, skip_urls=True) == [("A title", SOURCE)]


@pytest.mark.parametrize("title", [NAMED["a label that closes ours"], NAMED["nested brackets"]])
def test_a_title_that_closes_the_label_stays_inside_it(title):
    """A <title> of "Staff Handbook](https://evil.example/title) (" is label text: its brackets
    cannot end the label (Discord's link rule ignores backslashes there), so the link goes where
    CiteBot says and the title reads as written."""
    answer = Answer(question="q", answered=True, answer="two",
                    citations=[citation("A quote.", title=title, url=SOURCE)])
    description = render.answer_message(answer).embeds[0].description
    [(label, href)] = masked_links(description, skip_urls=True)
    assert href == SOURCE
    assert unescaped(label).translate({0xFF3B: "[", 0xFF3D: "]"}) == title


def test_escaped_brackets_still_read_as_brackets():
    """Escaping keeps the text: Discord shows "\\[" as "[", so the reader sees the document's words."""
    assert unescaped(render.safe(TWO_LINKS)) == TWO_LINKS


def unescaped(text: str) -> str:
    """What Discord shows for escaped text."""
    return ESCAPE.sub(lambda m: m.group(0)[1], text)


# --------------------------------------------------------------------------- generated strings

PIECES = [
    "[", "]", "(", ")", "\\", "\\\\", "](", ")[", "<", ">", "*", "_", "`", "|", "~", "\n", " ",
    "[docs](https://ok.example)", "[click](https://evil.example)", "](https://evil.example)",
    "(https://evil.example)", "<https://evil.example>", "https://ok.example/", "https://evil.example",
    "[x]", "click here", "Staff Handbook", "@everyone", ".", "\u200b",
]
piece = st.one_of(st.sampled_from(PIECES), st.characters(codec="utf-8"))
linky_text = st.lists(piece, max_size=24).map("".join)
source_urls = st.sampled_from([None, SOURCE, "https://docs.example/a(b)[c] d", "/tmp/local.md"])
PROPERTY = settings(
    max_examples=2_000 if os.environ.get("CI") else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def allowed(*urls: str | None) -> set[str]:
    return {u for u in map(render.safe_url, urls) if u}


@PROPERTY
@given(linky_text, linky_text, linky_text, linky_text, source_urls, st.booleans())
def test_generated_text_never_forms_a_link(question, answer_text, quote, title, url, answered):
    answer = Answer(
        question=question,
        answered=answered,
        answer=answer_text if answered else "",
        citations=[citation(quote or "x", title=title, url=url), citation(answer_text or "y")],
        refusal=None if answered else "not_in_documents",
    )
    assert_only_our_links(render.answer_message(answer), allowed(url))
    assert_only_our_links(render.sources_message([document(title, url, author=quote)]), allowed(url))
    added = Added(doc_id=question, title=title, collection="c", status="replaced", passages=2,
                  sentences=3, url=url, key_point=quote, key_point_paragraph=2)
    assert_only_our_links(added_message(added), allowed(url))
