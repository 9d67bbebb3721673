"""``citebot chat``: a REPL that behaves like a chat channel (plain questions, /ask, /sources,
/help), so the whole answer path can be tried with no tokens and no network."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from index.engine import CiteIndex
from index.errors import CiteBotError

from .render import render_answer, render_help, render_sources
from .runtime import open_index

PROMPT = "you> "


class Console:
    def __init__(self, index: CiteIndex | None = None, *, stdin: TextIO | None = None,
                 stdout: TextIO | None = None):
        self._index = index
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    @property
    def index(self) -> CiteIndex:
        if self._index is None:
            self._index = open_index()
        # Like a bot that has joined a channel: ready to answer, index built on first use.
        self._index.warm_up()
        return self._index

    def handle(self, line: str) -> str | None:
        """The reply to one line of input; None means the user asked to leave."""
        text = line.strip()
        if not text:
            return ""
        command, _, rest = text.partition(" ")
        handlers: dict[str, Callable[[str], str | None]] = {
            "/ask": self._ask,
            "/sources": lambda _: render_sources(self.index.documents()),
            "/help": lambda _: render_help(),
            "/quit": lambda _: None,
            "/exit": lambda _: None,
        }
        if command.startswith("/"):
            handler = handlers.get(command.lower())
            if handler is None:
                return f"Unknown command {command}. " + render_help()
            return handler(rest)
        return self._ask(text)

    def _ask(self, question: str) -> str:
        if not question.strip():
            return "Usage: /ask QUESTION — for example: /ask how much did Xi pledge?"
        try:
            return render_answer(self.index.ask(question))
        except CiteBotError as exc:
            return str(exc)

    def run(self) -> None:
        interactive = self.stdin.isatty()
        self._write(render_help() + "\n")
        while True:
            if interactive:
                self.stdout.write(PROMPT)
                self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                break
            reply = self.handle(line)
            if reply is None:
                break
            if reply:
                self._write(reply + "\n")

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()
