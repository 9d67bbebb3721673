"""Reply templates from ``prompts/<platform>/``, rendered in a sandbox that fails loudly.

Wording lives in the templates so it changes without touching code; a template that uses a
variable the code did not pass raises :class:`TemplateError` naming it, instead of printing a gap.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from jinja2 import StrictUndefined, TemplateNotFound, UndefinedError
from jinja2.loaders import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment


class TemplateError(Exception):
    pass


_ESCAPED_BRACKET = re.compile(r"\\([\[\]])")
_FULLWIDTH_BRACKETS = str.maketrans({"[": "\uff3b", "]": "\uff3d"})


def link_label(text: str) -> str:
    """Already escaped text made fit to sit inside a masked link ``[label](url)``: its brackets
    become fullwidth ones. Discord's link rule (simple-markdown's) finds where a label ends by
    counting brackets and ignores backslashes, so an escaped "\\](https://x)" in a title would still
    end the label early and hand the link to the URL after it."""
    return _ESCAPED_BRACKET.sub(r"\1", text).translate(_FULLWIDTH_BRACKETS)


@cache
def _environment(root: str) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(root),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters["link_label"] = link_label
    return environment


def prompts_root() -> str:
    return str(resources.files("prompts"))


def render(platform: str, name: str, root: str | None = None, **variables) -> str:
    """Render ``prompts/<platform>/<name>.txt`` with ``variables``."""
    environment = _environment(root or prompts_root())
    template_name = f"{platform}/{name}.txt"
    try:
        template = environment.get_template(template_name)
    except TemplateNotFound as exc:
        raise TemplateError(f"No template {template_name!r} under {root or prompts_root()}") from exc
    try:
        return template.render(**variables).strip("\n")
    except UndefinedError as exc:
        raise TemplateError(
            f"Template {template_name!r} uses a variable that was not provided: {exc.message}"
        ) from exc
