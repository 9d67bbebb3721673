"""The ``citebot`` command, run in-process (fast fake embedder unless marked ``model``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_ask_json_prints_exactly_one_object(run):
    result = run("ask", "--json", "Rmb26bn financing support")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["question"] == "Rmb26bn financing support"
    assert data["citations"][0]["paragraph"] == 6
    assert data["citations"][0]["document"] == "ft-xi-central-asia-2023"


def test_ask_text_names_title_and_paragraph(run):
    result = run("ask", "Rmb26bn financing support")
    assert result.exit_code == 0
    assert "Xi Jinping pushes Central Asian defence co-operation plan, paragraph 6" in result.stdout


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_exits_2(run, question):
    result = run("ask", question)
    assert result.exit_code == 2
    assert "empty" in result.stderr


def test_overlong_question_exits_2(run):
    result = run("ask", "x" * 2001)
    assert result.exit_code == 2 and "2,000" in result.stderr


def test_ask_file_prints_json_lines(run, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Rmb26bn financing\n\nTajikistan Afghanistan border\n")
    result = run("ask", "--json", "--file", str(questions))
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["question"] for r in rows] == ["Rmb26bn financing", "Tajikistan Afghanistan border"]


def test_ask_stdin(run):
    result = run("ask", "--json", "--file", "-", input="Rmb26bn financing\n")
    assert json.loads(result.stdout)["citations"][0]["paragraph"] == 6


def test_index_add_list_remove(run, tmp_path):
    doc = tmp_path / "tea.md"
    doc.write_text("# Tea notes\n\nThe harvest reached 300 tonnes in 2021.\n")
    added = run("index", "add", str(doc))
    assert added.exit_code == 0 and "added      tea" in added.stdout
    again = run("index", "add", str(doc))
    assert "unchanged  tea" in again.stdout
    listed = json.loads(run("index", "list", "--json").stdout)
    assert {d["document"] for d in listed} == {"tea"}
    assert run("index", "remove", "tea").exit_code == 0
    missing = run("index", "remove", "tea")
    assert missing.exit_code == 1 and "No document 'tea'" in missing.stderr


def test_index_add_bad_file_names_it_and_changes_nothing(run, tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nFine.\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes("café".encode("latin-1"))
    result = run("index", "add", str(good), str(bad), str(tmp_path / "missing.md"))
    assert result.exit_code == 1
    assert "bad.txt: not UTF-8 text" in result.stderr
    assert "missing.md: no such file" in result.stderr
    assert json.loads(run("index", "list", "--json").stdout) == []


def test_index_rebuild(run):
    result = run("index", "rebuild")
    assert result.exit_code == 0 and "1 documents" in result.stdout


def test_chat_console_commands(run):
    result = run("chat", input="/help\n/sources\n/ask\n/ask Rmb26bn financing\n/nope\n/quit\n")
    out = result.stdout
    assert "/sources" in out and "ft-xi-central-asia-2023" in out
    assert "Usage: /ask QUESTION" in out
    assert "paragraph 6" in out
    assert "Unknown command /nope" in out


def test_chat_prints_each_citation_on_lines_of_its_own(run):
    out = run("chat", input="/ask Rmb26bn financing support\n/quit\n").stdout
    lines = out.splitlines()
    [source] = [line for line in lines if line.startswith("  — ")]
    assert "Also:" not in source and source.endswith("paragraph 6")
    also = [line for line in lines if "Also:" in line]
    assert also and all(line.startswith("  Also: “") for line in also)


def test_collections_from_the_cli(run, tmp_path):
    doc = tmp_path / "salaries.md"
    doc.write_text("# Salaries\n\nThe secret bonus pool is 4 million.\n")
    assert "added      salaries" in run("index", "add", str(doc), "--collection", "hr").stdout
    scoped = json.loads(run("ask", "--json", "--collection", "hr", "secret bonus pool").stdout)
    assert {c["document"] for c in scoped["citations"]} == {"salaries"}
    default = json.loads(run("ask", "--json", "secret bonus pool").stdout)
    assert "salaries" not in {c["document"] for c in default["citations"]}
    listed = json.loads(run("index", "list", "--json", "--collection", "hr").stdout)
    assert [(d["document"], d["collection"]) for d in listed] == [("salaries", "hr")]
    assert "bound      slack:C1 -> hr" in run("collection", "bind", "hr", "--platform", "slack", "--channel", "C1").stdout
    rows = {r["collection"]: r for r in json.loads(run("collection", "list", "--json").stdout)}
    assert rows["hr"]["documents"] == 1 and rows["hr"]["channels"] == ["slack:C1"]
    assert run("collection", "unbind", "hr", "--platform", "slack", "--channel", "C1").exit_code == 0
    assert run("collection", "unbind", "hr", "--platform", "slack", "--channel", "C1").exit_code == 1
    bad = CliRunner().invoke(main, ["index", "add", str(doc), "--collection", "Bad Name!"])
    assert bad.exit_code == 2 and "not a collection name" in bad.output
