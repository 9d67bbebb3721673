"""The ``assistant.threads.*`` Web API methods of the fake Slack (Agents & AI Apps pane).

Each takes the decoded request body and answers as Slack does
(https://docs.slack.dev/reference/methods/assistant.threads.setStatus, ``.setSuggestedPrompts``,
``.setTitle``): ``invalid_arguments`` naming a missing required field, and at most four prompts,
each with a title and a message. slack_sdk sends setStatus and setSuggestedPrompts as JSON and
setTitle as query parameters; the fake merges both into the body, so tests read them alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_PROMPTS = 4


def _invalid(*messages: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {m}" for m in messages]},
    }


def _missing(body: dict[str, Any], *fields: str) -> dict[str, Any] | None:
    absent = [f for f in fields if body.get(f) in (None, "")]
    return _invalid(*(f"missing required field: {f}" for f in absent)) if absent else None


def set_status(body: dict[str, Any]) -> dict[str, Any]:
    # An empty status is allowed: it clears the status line.
    problem = _missing(body, "channel_id", "thread_ts")
    if problem is None and not isinstance(body.get("status"), str):
        problem = _invalid("missing required field: status")
    return problem or {"ok": True}


def set_title(body: dict[str, Any]) -> dict[str, Any]:
    return _missing(body, "channel_id", "thread_ts", "title") or {"ok": True}


def set_suggested_prompts(body: dict[str, Any]) -> dict[str, Any]:
    problem = _missing(body, "channel_id")
    if problem:
        return problem
    prompts = body.get("prompts")
    if isinstance(prompts, str):  # a form-encoded call carries the list as a JSON string
        try:
            prompts = json.loads(prompts)
        except ValueError:
            return _invalid("invalid prompts [json-pointer:/prompts]")
    if not isinstance(prompts, list) or not prompts:
        return _invalid("missing required field: prompts")
    if len(prompts) > MAX_PROMPTS:
        return _invalid(f"must provide at most {MAX_PROMPTS} items [json-pointer:/prompts]")
    for n, prompt in enumerate(prompts):
        if not isinstance(prompt, dict) or not prompt.get("title") or not prompt.get("message"):
            return _invalid(f"missing required field: title or message [json-pointer:/prompts/{n}]")
    return {"ok": True}


METHODS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "assistant.threads.setStatus": set_status,
    "assistant.threads.setSuggestedPrompts": set_suggested_prompts,
    "assistant.threads.setTitle": set_title,
}
