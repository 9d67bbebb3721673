"""Replies come from prompts/ templates, and a template with a missing variable fails loudly."""

from __future__ import annotations

import pytest

from bot.render import render_answer
from bot.templates import TemplateError, render
from index.models import Answer, Citation


def _citation(**kw):
    base = dict(document="d", title="Title", source="s", paragraph=3, quote="The quote.", score=0.5)
    return Citation(**{**base, **kw})


def test_answer_and_no_answer_render():
    answered = render_answer(Answer("q?", True, "Rmb26bn", [_citation()]))
    assert answered.startswith("Rmb26bn") and "“The quote.”" in answered and "Title, paragraph 3" in answered
    refused = render_answer(Answer("q?", False, "", [_citation()], refusal="not_in_documents"))
    assert "isn't in the documents" in refused and "Closest passage" in refused


def test_missing_variable_names_it(tmp_path):
    (tmp_path / "console").mkdir()
    (tmp_path / "console" / "answer.txt").write_text("{{ answer }} from {{ nonexistent_thing }}")
    with pytest.raises(TemplateError, match="nonexistent_thing"):
        render("console", "answer", root=str(tmp_path), answer="x")


def test_missing_template_is_an_error():
    with pytest.raises(TemplateError, match="nope"):
        render("console", "nope")


def test_templates_are_sandboxed(tmp_path):
    (tmp_path / "console").mkdir()
    (tmp_path / "console" / "evil.txt").write_text("{{ answer.__class__.__mro__ }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises((SecurityError, TemplateError)):
        render("console", "evil", root=str(tmp_path), answer="x")
