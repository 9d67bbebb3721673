"""A document's source link is where it was fetched from, or the link the operator gave
(``citebot index add FILE --url URL``), never what the document says about itself: a page's
og:url, canonical link or a title shaped like markdown point nowhere."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import bot.cli
from bot.cli import main
from index.documents import load_document, parse_document
from index.embedders import HashingEmbedder
from index.engine import CiteIndex

HOSTILE_TITLE = "Staff Handbook](https://evil.example/title) ("
PAGE = f"""<!doctype html><html><head>
<title>{HOSTILE_TITLE}</title>
<meta property="og:url" content="https://evil.example/og">
<link rel="canonical" href="https://evil.example/canonical">
</head><body><article>
<h1>{HOSTILE_TITLE}</h1>
<p>Staff may work from home on Fridays, the handbook says, after their first three months.</p>
<p>Holiday requests go to the line manager at least two weeks before the first day off.</p>
<p>Expenses are repaid within thirty days of a receipt being filed in the expenses system.</p>
</article></body></html>"""


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "handbook.html"
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_a_local_page_gets_no_link_from_its_own_og_url_or_canonical(page):
    document = load_document(page)
    assert document.url is None
    assert "https://evil" not in json.dumps(document.metadata)
    assert document.title == HOSTILE_TITLE  # shown as text, escaped where it is shown


def test_a_fetched_page_links_to_where_it_was_fetched():
    document = parse_document(
        PAGE.encode(), suffix=".html", source="chat:slack:C1:x",
        doc_id="handbook", url="https://intranet.example/handbook",
    )
    assert document.url == "https://intranet.example/handbook"


def test_the_index_keeps_the_fetched_address_or_none(tmp_path, page):
    index = CiteIndex(tmp_path / "home", embedder=HashingEmbedder())
    index.add([page])
    index.add_bytes(PAGE.replace("Fridays", "Mondays").encode(), name="fetched.html",
                    source="chat:discord:1:https://intranet.example/fetched",
                    url="https://intranet.example/fetched")
    urls = {d.source: d.url for d in index.documents()}
    assert urls == {str(page.resolve()): None,
                    "chat:discord:1:https://intranet.example/fetched": "https://intranet.example/fetched"}


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def listed(run) -> dict[str, str | None]:
    result = run("index", "list", "--json")
    return {row["source"]: row["url"] for row in json.loads(result.stdout)}


def test_index_add_url_sets_the_link_the_operator_gave(run, page):
    result = run("index", "add", str(page), "--url", "https://intranet.example/handbook")
    assert result.exit_code == 0, result.stderr
    assert listed(run)[str(page.resolve())] == "https://intranet.example/handbook"
    # Added again without it: the operator took the link away, the page does not put one back.
    page.write_text(PAGE.replace("Fridays", "Thursdays"), encoding="utf-8")
    assert run("index", "add", str(page)).exit_code == 0
    assert listed(run)[str(page.resolve())] is None


def test_rebuild_keeps_the_link_the_operator_gave(run, page):
    assert run("index", "add", str(page), "--url", "https://intranet.example/handbook").exit_code == 0
    assert run("index", "rebuild").exit_code == 0
    assert listed(run)[str(page.resolve())] == "https://intranet.example/handbook"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "intranet/handbook",
                                 "https://x.example/a b", ""])
def test_index_add_url_refuses_what_is_not_a_web_address(run, page, url):
    result = run("index", "add", str(page), "--url", url)
    assert result.exit_code == 2
    assert "web address" in result.stderr
    assert str(page.resolve()) not in listed(run)


def test_index_add_url_takes_one_file(run, page, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Another document. It has two sentences.", encoding="utf-8")
    result = run("index", "add", str(page), str(other), "--url", "https://intranet.example/h")
    assert result.exit_code == 2 and "single file" in result.stderr
    assert not {str(page.resolve()), str(other.resolve())} & set(listed(run))


def test_index_add_url_of_a_bad_file_changes_nothing(run, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   ", encoding="utf-8")
    result = run("index", "add", str(empty), "--url", "https://intranet.example/e")
    assert result.exit_code == 1
    assert "empty file" in result.stderr and "index is unchanged" in result.stderr


def test_progress_lines_when_not_on_a_terminal(run, tmp_path, monkeypatch):
    """Off a terminal a long add says it is still working, so it does not look hung."""
    monkeypatch.setattr(bot.cli, "PROGRESS_EVERY_S", 0.05)
    big = tmp_path / "big.txt"
    big.write_text(" ".join(f"Sentence number {n} says something." for n in range(6_000)))
    result = run("index", "add", str(big))
    assert result.exit_code == 0, result.stderr
    assert "citebot: still indexing (" in result.stderr
    assert result.stdout.startswith("added")  # progress goes to stderr, never into the output
