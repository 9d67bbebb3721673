"""The smaller findings of the hostile-content probe: HTML support's own dependency named per
file when missing, deeply nested HTML read rather than silently emptied, invisible characters
kept out of questions, and ``ask --file`` error lines shaped like every other line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.service import Question
from index.documents import load_document
from index.questions import visible_text
from tests.conftest import PROJECT_ROOT

# --- HTML --------------------------------------------------------------------------------------


def deep_page(depth: int) -> str:
    return (
        "<html><head><title>Deep page</title><style>p {color: red}</style></head><body>"
        + "<div>" * depth
        + "<p>The pledge was Rmb26bn in financing support, the summit heard on Friday.</p>"
        + "<p>A railway line &amp; a pipeline were agreed as well.</p><script>var x = 1;</script>"
        + "</div>" * depth
        + "</body></html>"
    )


@pytest.mark.parametrize("depth", [300, 20_000])
def test_deeply_nested_html_keeps_its_body(tmp_path, depth):
    """lxml stops at 256 levels and drops the rest without an error: the page was 'added' as
    its title alone."""
    path = tmp_path / "deep.html"
    path.write_text(deep_page(depth), encoding="utf-8")
    document = load_document(path)
    assert document.title == "Deep page"
    assert document.text == (
        "The pledge was Rmb26bn in financing support, the summit heard on Friday.\n\n"
        "A railway line & a pipeline were agreed as well."
    )


def test_html_support_is_a_declared_dependency():
    dependencies = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert any(d.replace("_", "-").lower().startswith("lxml-html-clean") for d in dependencies)


def test_html_without_its_cleaner_is_refused_per_file_not_with_a_traceback(tmp_path):
    """Without lxml_html_clean, trafilatura cannot be imported; the file gets a reason."""
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Some words in a page.</p></body></html>", encoding="utf-8")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["lxml_html_clean"] = None  # as if it were not installed
        sys.modules["lxml.html.clean"] = None
        from index.documents import load_document
        from index.errors import DocumentError
        try:
            load_document({str(page)!r})
        except DocumentError as exc:
            print("REFUSED", exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith("REFUSED"), result.stdout
    assert "page.html" in result.stdout and "lxml" in result.stdout
    assert "reinstall CiteBot" in result.stdout


# --- questions ---------------------------------------------------------------------------------

CLEAN = "how much did Xi pledge?"
LACED = "\x00how\u200b much\u200d did\u202e Xi\u2066 pledge\u200f?\ufeff\x1b"
INVISIBLE_ONLY = "\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2066\u2069\ufeff\x00\x07\x1b"


def test_invisible_characters_are_not_part_of_a_question():
    assert visible_text(LACED) == CLEAN
    assert visible_text(INVISIBLE_ONLY) == ""
    assert visible_text("tab\tand\nline") == "tab and line"
    assert visible_text("Café – 東京 🙂 שלום") == "Café – 東京 🙂 שלום"  # visible text untouched


def test_questions_from_chat_are_cleaned_where_they_are_made():
    assert Question("slack", "C1", "U1", LACED).text == CLEAN
    assert Question("discord", "1", "2", INVISIBLE_ONLY).text == ""


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_a_question_of_only_invisible_characters_is_empty(run):
    result = run("ask", INVISIBLE_ONLY)
    assert result.exit_code == 2
    assert "empty" in result.stderr


def test_ask_file_error_lines_carry_the_keys_every_line_has(run):
    result = run("ask", "--file", "-", "--json", input=f"{'x' * 2001}\n{INVISIBLE_ONLY}\n")
    assert result.exit_code == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1  # the invisible line is a blank line, skipped like one
    [error] = lines
    assert error["answered"] is False and error["citations"] == []
    assert "2,000" in error["error"] and error["question"] == "x" * 200
