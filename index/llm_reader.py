"""Answers written by a language model, shown only once checked against the passages.

:class:`LLMReader` plugs in where any reader does (``CiteIndex(reader=...)``) and wraps another
one, the fallback. For each question it sends the best passages, numbered, to an
OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio) with the
official ``openai`` client, and reads back ``{"answer": ..., "passages": [n, ...]}``. The answer
is shown only when :mod:`index.grounding` finds everything it states in the passages it cites;
CiteBot, not the model, picks the sentence quoted. Anything else — a timeout, an error, a reply
that is not that JSON, a claim the passages do not make — gives the fallback reader's answer,
with the reason in ``Reading.rejected`` (logged here, counted by the service in /metrics).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from .grounding import instructs, supporting_sentence, unsupported
from .reader import Passage, ReadAnswer, Reader, Reading

log = logging.getLogger("citebot.llm")

PASSAGES = 3  # how many of the best passages the model reads
MAX_ANSWER_CHARS = 600  # a chat answer, not an essay; longer is rejected, not cut
# Why an LLM answer was not shown: the values of ``Reading.rejected``, ``"llm_rejected"`` in
# ``ask --json`` and the ``reason`` label of citebot_llm_rejected in /metrics.
REASONS = (
    "timeout",  # no reply within CITEBOT_LLM_TIMEOUT, retries included
    "error",  # the server failed (after the client's retries) or could not be reached
    "unparseable",  # not a JSON object with "answer" and "passages"
    "no_citation",  # an answer citing no passage
    "unknown_passage",  # a cited number that is not one of the passages sent
    "unsupported_claim",  # a figure, name or link the cited passages do not hold
    "instructions_in_passage",  # a cited passage addresses instructions to a model
    "no_support",  # no sentence of the cited passages shares anything with the answer
    "too_long",
)
_CITATION_MARK = re.compile(r"\s*\[\d+(?:\s*[,–-]\s*\d+)*\]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ModelReply:
    answer: str | None  # None: the model says the passages do not answer
    passages: list[int]  # cited passage numbers, 1-based, as the model wrote them


def parse_reply(content: str | None) -> ModelReply:
    """The model's JSON reply, read leniently: a JSON object alone, fenced in ```json, or within
    other text (servers without a JSON mode wrap it in prose); numbers written as "2" or "[2]"."""
    text = (content or "").strip()
    fenced = _FENCE.search(text)
    candidates = [fenced[1]] if fenced else []
    candidates.append(text)
    data = None
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, ch in enumerate(candidate) if ch == "{"]:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict) and "answer" in value:
                data = value
                break
        if data is not None:
            break
    if data is None:
        raise Rejected("unparseable", "no JSON object with an answer")
    answer = data.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise Rejected("unparseable", "answer is not a string or null")
    answer = _CITATION_MARK.sub("", answer).strip() if answer else None
    cited = data.get("passages") or []
    if not isinstance(cited, list):
        cited = [cited]
    numbers: list[int] = []
    for item in cited:
        digits = re.fullmatch(r"\s*\[?\s*(\d+)\s*\]?\s*", str(item)) if not isinstance(item, bool) else None
        if digits is None:
            raise Rejected("unparseable", "a cited passage is not a number")
        numbers.append(int(digits[1]))
    return ModelReply(answer or None, list(dict.fromkeys(numbers)))


def check(reply: ModelReply, passages: Sequence[Passage]) -> ReadAnswer:
    """The answer to show, with the sentence CiteBot quotes as its span; raises
    :class:`Rejected` naming what failed."""
    assert reply.answer is not None
    if len(reply.answer) > MAX_ANSWER_CHARS:
        raise Rejected("too_long", f"{len(reply.answer)} characters")
    if not reply.passages:
        raise Rejected("no_citation")
    if any(not 1 <= n <= len(passages) for n in reply.passages):
        raise Rejected("unknown_passage", f"cited {reply.passages}, sent {len(passages)}")
    cited = [n - 1 for n in reply.passages]
    if any(instructs(passages[i].text) for i in cited):
        raise Rejected("instructions_in_passage")
    missing = unsupported(reply.answer, "\n".join(passages[i].text for i in cited))
    if missing:
        raise Rejected("unsupported_claim", ", ".join(missing))
    support = supporting_sentence(reply.answer, [p.text for p in passages], cited)
    if support is None:
        raise Rejected("no_support")
    passage = passages[support.passage]
    return ReadAnswer(support.passage, passage.start + support.start, passage.start + support.end,
                      reply.answer, 1.0)


@cache
def _template(name: str):
    # The wording lives in prompts/llm/ like every reply's (bot/templates.py renders those; the
    # index may not import bot/): the same sandboxed Jinja, failing on a missing variable.
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(resources.files("prompts") / "llm")),
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    )
    return environment.get_template(f"{name}.txt")


def render(name: str, **variables) -> str:
    return _template(name).render(**variables).strip("\n")


def messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    """The chat exchange: the rules as the system message; the passages and the question as
    data, each a JSON string, so no passage can end its quotation or forge another's number."""
    numbered = [{"number": n, "text": json.dumps(p.text, ensure_ascii=False)}
                for n, p in enumerate(passages, start=1)]
    return [
        {"role": "system", "content": render("system")},
        {"role": "user", "content": render("user", passages=numbered,
                                           question=json.dumps(question, ensure_ascii=False))},
    ]


class _Channel:
    """One event loop thread holding one AsyncOpenAI client, shared by every question, so
    connections are reused across questions (a TLS handshake to a hosted API costs more than
    a local reader's whole answer)."""

    def __init__(self, url: str, api_key: str | None, timeout: float, max_retries: int):
        self.url, self.api_key, self.timeout, self.max_retries = url, api_key, timeout, max_retries
        self.json_mode: bool | None = None  # unknown until the server accepts or refuses it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None  # openai's AsyncOpenAI, imported on first use
        self._lock = threading.Lock()

    def submit(self, coroutine) -> concurrent.futures.Future:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="citebot-llm", daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def client(self):
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                base_url=self.url,
                # Local servers (Ollama, vLLM) take any key; the client insists on one.
                api_key=self.api_key or "none",
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.close(), loop).result(5)
            self._client = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class LLMReader:
    """Reads with a language model; answers with ``fallback`` whenever the model's answer is
    not shown. ``fallback=None``: the heuristic reader of each snapshot's answerer, which binds
    it with :meth:`with_fallback`."""

    name = "llm"

    def __init__(self, fallback: Reader | None, *, url: str, model: str, api_key: str | None = None,
                 timeout: float = 20.0, passages: int = PASSAGES, max_retries: int = 2):
        self.fallback = fallback
        self.model = model
        self.timeout = timeout
        self.passages = passages
        self._channel = _Channel(url, api_key, timeout, max_retries)

    def with_fallback(self, fallback: Reader) -> LLMReader:
        """This reader (sharing its connection) over ``fallback``, unless it has one already."""
        if self.fallback is not None:
            return self
        bound = copy.copy(self)
        bound.fallback = fallback
        return bound

    @property
    def passages_to_read(self) -> int:
        return max(self.passages, getattr(self.fallback, "passages_to_read", 1))

    def warm_up(self) -> None:
        if self.fallback is not None:
            self.fallback.warm_up()

    def close(self) -> None:
        self._channel.close()

    def read(self, question: str, passages: Sequence[Passage]) -> Reading:
        if self.fallback is None:
            raise RuntimeError("LLMReader needs a fallback reader (see with_fallback)")
        sent = list(passages[: self.passages])
        fallback_count = getattr(self.fallback, "passages_to_read", len(passages))
        if not sent:
            return replace(self.fallback.read(question, passages[:fallback_count]),
                           reader=self.fallback.name)
        started = time.monotonic()
        # The sync Answerer.ask runs in a worker thread of the chat service. The model is asked
        # on this reader's own event loop thread, with asyncio.wait_for around the whole
        # exchange: the async client's timeout and retries apply per attempt (a 429 with
        # Retry-After may ask it to wait minutes), so only a deadline over all of them keeps
        # the answer within CITEBOT_LLM_TIMEOUT. Meanwhile this thread runs the fallback reader,
        # so a rejection costs no time beyond the deadline.
        future = self._channel.submit(
            asyncio.wait_for(self._ask(question, sent), self.timeout)
        )
        try:
            fallback = self.fallback.read(question, passages[:fallback_count])
        except BaseException:
            future.cancel()
            raise
        try:
            remaining = self.timeout - (time.monotonic() - started)
            reply = parse_reply(future.result(timeout=max(0.0, remaining) + 0.25))
            if reply.answer is None:
                log.info("the language model found no answer in the passages")
                return Reading([], 0.0, True, False, reader=self.name)
            return Reading([check(reply, sent)], 1.0, False, True, reader=self.name)
        except Rejected as exc:
            reason, detail = exc.reason, exc.detail
        except (TimeoutError, concurrent.futures.TimeoutError):
            reason, detail = "timeout", f"no reply within {self.timeout:g} s"
        except Exception as exc:  # any failure of the exchange: the fallback answers
            reason, detail = _failure(exc)
        finally:
            future.cancel()
        log.warning("language model answer not shown (%s); the %s reader answered",
                    reason, self.fallback.name)
        # The detail may quote the model's answer: message content, so debug level only.
        log.debug("language model answer not shown: %s: %s", reason, detail)
        return replace(fallback, reader=self.fallback.name, rejected=reason)

    async def _ask(self, question: str, passages: list[Passage]) -> str | None:
        from openai import BadRequestError

        channel = self._channel
        request = {"model": self.model, "messages": messages(question, passages)}
        if channel.json_mode is not False:
            try:
                response = await channel.client().chat.completions.create(
                    **request, response_format={"type": "json_object"}
                )
                channel.json_mode = True
                return response.choices[0].message.content
            except BadRequestError:
                if channel.json_mode:
                    raise
                # The server does not offer JSON mode (LM Studio, older llama.cpp): ask
                # without it, from now on, and read the reply leniently.
                log.info("the language model server refused JSON mode; asking without it")
        response = await channel.client().chat.completions.create(**request)
        channel.json_mode = False
        return response.choices[0].message.content


def _failure(exc: Exception) -> tuple[str, str]:
    from openai import APIStatusError, APITimeoutError

    if isinstance(exc, APITimeoutError):
        return "timeout", "the request timed out"
    if isinstance(exc, APIStatusError):
        return "error", f"HTTP {exc.status_code}"
    return "error", type(exc).__name__
