"""The fake Web API server: a real threaded HTTP server that records every call and answers
as Slack's method reference shows."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..slack_assistant_api import METHODS as ASSISTANT_METHODS
from .blocks import validate_blocks

# Form-encoded Web API calls carry these as JSON strings; decoding them makes test
# assertions identical whether slack_sdk chose json= or data=/params= for a method.
_JSON_STRING_FIELDS = ("blocks", "attachments", "view", "metadata", "unfurls", "user_auth_blocks")

# Methods that must be called with an app-level (xapp-) token rather than the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

ResponseFactory = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, decoded.

    ``headers`` keys are lower-cased. ``body`` merges query-string parameters with
    the form/JSON body (slack_sdk sends ``params=`` as a query string even on POST),
    with ``blocks``/``attachments``/``view``/``metadata`` JSON-decoded.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    at: float
    http_method: str = "POST"
    status: int = 200
    failed: bool = False  # True for injected faults and non-2xx answers
    response: Any = None  # the JSON (dict) the fake answered with, when it answered JSON

    @property
    def ok(self) -> bool:
        return (
            not self.failed
            and self.status == 200
            and isinstance(self.response, dict)
            and self.response.get("ok") is True
        )


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int | None
    body: Any


@dataclass
class _Reply:
    status: int = 200
    payload: Any = None  # dict -> JSON, bytes -> raw, str -> text
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never let a stuck client connection block interpreter exit
    allow_reuse_address = True
    fake: FakeSlackWebAPI


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.fake._serve(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # request logging would drown pytest output; the fake records everything anyway


class FakeSlackWebAPI:
    """Threaded HTTP server answering Slack Web API methods on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T1",
        team_name: str = "CiteBot Test",
        team_domain: str = "citebot-test",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "citebot",
        app_id: str = "A1",
        ts_start: str = "1700000000.000100",
        validate_blocks: bool = True,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.validate_blocks = validate_blocks
        # Set by FakeSlackSocketMode (or a test) so apps.connections.open can hand out a wss URL.
        self.socket_mode_url: Callable[[], str] | str | None = None

        self._lock = threading.RLock()
        self._records: list[RecordedRequest] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._custom: dict[str, Mapping[str, Any] | ResponseFactory] = {}
        self._last_ts_us = _ts_to_us(ts_start) - 100
        self._threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._posted: dict[str, list[dict[str, Any]]] = {}  # channel -> messages the app posted
        self._channels: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._reactions: set[tuple[str, str, str]] = set()
        self._view_ids = itertools.count(1)
        self.errors: list[str] = []  # tracebacks from bugs inside the fake itself

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._builtin: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.info": self._files_info,
            "views.open": self._views_write,
            "views.publish": self._views_write,
            "views.update": self._views_write,
            "views.push": self._views_write,
            **ASSISTANT_METHODS,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlackWebAPI:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # keeps stop() fast
            name="FakeSlackWebAPI",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlackWebAPI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlackWebAPI is not started")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        # The trailing slash matters: slack_sdk urljoin()s the method name onto it.
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "default") -> str:
        return f"{self.root_url}/response/{quote(name, safe='')}"

    # ------------------------------------------------------------------ test configuration

    def set_thread(self, channel: str, thread_ts: str, messages: Iterable[Mapping[str, Any]]) -> None:
        """What conversations.replies returns for (channel, thread_ts), parent first.

        Messages the app later posts into the thread (chat.postMessage with that
        thread_ts) are appended, as on real Slack.
        """
        msgs = []
        for m in messages:
            msg = dict(m)
            msg.setdefault("type", "message")
            msg.setdefault("thread_ts", thread_ts)
            msgs.append(msg)
        with self._lock:
            self._threads[(channel, thread_ts)] = msgs
            for msg in msgs:
                self._bump_ts_floor(msg.get("ts"))
            self._bump_ts_floor(thread_ts)

    def set_channel(self, channel_id: str, **fields: Any) -> None:
        """Override fields of the conversations.info ``channel`` object (e.g. name, is_private)."""
        with self._lock:
            self._channels.setdefault(channel_id, {}).update(fields)

    def set_user(
        self,
        user_id: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        **fields: Any,
    ) -> None:
        """Configure the users.info answer for ``user_id`` (admin/owner flags, name, tz, ...)."""
        with self._lock:
            entry = self._users.setdefault(user_id, {})
            entry.update(fields)
            entry["is_admin"] = is_admin
            entry["is_owner"] = is_owner

    def add_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        mimetype: str = "application/octet-stream",
        *,
        user: str = "U1",
        title: str | None = None,
        filetype: str | None = None,
    ) -> dict[str, Any]:
        """Register a downloadable file; returns the files.info ``file`` object for embedding in events."""
        with self._lock:
            self._files[file_id] = {
                "name": name,
                "content": bytes(content),
                "mimetype": mimetype,
                "user": user,
                "title": title,
                "filetype": filetype,
                "created": int(time.time()),
            }
        return self.file_object(file_id)

    def file_object(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            meta = self._files[file_id]
        name = meta["name"]
        url = f"{self.root_url}/files/{quote(file_id, safe='')}/{quote(name, safe='')}"
        filetype = meta["filetype"] or (name.rsplit(".", 1)[-1].lower() if "." in name else "binary")
        return {
            "id": file_id,
            "created": meta["created"],
            "timestamp": meta["created"],
            "name": name,
            "title": meta["title"] or name,
            "mimetype": meta["mimetype"],
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": meta["user"],
            "user_team": self.team_id,
            "editable": False,
            "size": len(meta["content"]),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": url,
            "permalink": f"https://{self.team_domain}.slack.com/files/{meta['user']}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0000000000",
            "channels": [],
            "groups": [],
            "ims": [],
            "comments_count": 0,
        }

    def set_response(self, method: str, response: Mapping[str, Any] | ResponseFactory) -> None:
        """Replace the answer for ``method`` (also how to add methods the fake lacks).

        ``response`` is a dict, or a callable taking the decoded request body.
        Auth is still checked first.
        """
        with self._lock:
            self._custom[method] = response

    def fail_next(
        self,
        method: str,
        status: int = 429,
        times: int = 1,
        retry_after: int | None = 1,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` instead of normally.

        429 carries ``Retry-After: retry_after`` (slack_sdk sleeps that many seconds
        plus up to 1s of jitter, so use 0 in fast tests). ``body`` defaults to the
        error JSON Slack sends; pass status=200 with ``{"ok": False, "error": ...}``
        to simulate an API-level error. ``method`` may also be "response_url" or
        "file_download".
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(status, times, retry_after, body))

    def set_delay(self, method: str, seconds: float) -> None:
        """Sleep before answering ``method`` (0 removes), to exercise client timeouts."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def clear(self) -> None:
        """Forget recorded requests (configuration and stored messages are kept)."""
        with self._lock:
            self._records.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def requests_for(self, method: str, *, ok_only: bool = False) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._records if r.method == method and (r.ok or not ok_only)]

    def calls(self, method: str, *, ok_only: bool = False) -> list[dict[str, Any]]:
        """Decoded bodies of every attempt at ``method`` (failed retries included unless ok_only)."""
        return [r.body for r in self.requests_for(method, ok_only=ok_only)]

    def posted_messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages currently visible in ``channel`` that the app posted (after updates/deletes)."""
        with self._lock:
            return [dict(m) for m in self._posted.get(channel, [])]

    async def wait_for(
        self, method: str, count: int = 1, timeout: float = 10, *, ok_only: bool = False
    ) -> list[dict[str, Any]]:
        """Yield to the event loop until ``count`` calls of ``method`` were recorded."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.calls(method, ok_only=ok_only)
            if len(bodies) >= count:
                return bodies
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, len(bodies), timeout))
            await asyncio.sleep(0.01)

    def wait_for_sync(
        self, method: str, count: int = 1, timeout: float = 10, *, ok_only: bool = False
    ) -> list[dict[str, Any]]:
        """Blocking variant; do not call it on the thread whose event loop must do the posting."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = self.calls(method, ok_only=ok_only)
            if len(bodies) >= count:
                return bodies
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, len(bodies), timeout))
            time.sleep(0.01)

    def _timeout_message(self, method: str, count: int, got: int, timeout: float) -> str:
        with self._lock:
            seen = [
                f"{r.method}{'' if r.ok else f' [status={r.status}, response={_short(r.response)}]'}"
                for r in self._records
            ]
            errors = list(self.errors)
        msg = (
            f"timed out after {timeout}s waiting for {count} {method!r} call(s); got {got}. "
            f"Requests seen, in order: {seen or 'none'}"
        )
        if errors:
            msg += f"\nErrors inside the fake:\n{errors[-1]}"
        return msg

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, handler: _Handler, verb: str) -> None:
        received_at = time.time()
        raw = b""
        try:
            raw = _read_body(handler)
            split = urlsplit(handler.path)
            headers = {k.lower(): v for k, v in handler.headers.items()}
            body = _decode_body(raw, headers.get("content-type", ""), split.query)
            path = unquote(split.path)

            if path.startswith("/api/"):
                method = path[len("/api/") :]
                route: Callable[[], _Reply] = lambda: self._api(method, headers, body)  # noqa: E731
            elif path.startswith("/response/") and verb == "POST":
                method = "response_url"
                route = lambda: _Reply(payload={"ok": True})  # noqa: E731
            elif path.startswith("/files/") and verb == "GET":
                method = "file_download"
                route = lambda: self._download(path, headers)  # noqa: E731
            else:
                method = f"{verb} {path}"
                route = lambda: _Reply(404, {"ok": False, "error": "not_found"})  # noqa: E731

            with self._lock:
                delay = self._delays.get(method, 0)
                fault = self._take_fault(method)
            if delay:
                time.sleep(delay)

            if fault is not None:
                reply = self._fault_reply(fault)
                failed = True
            else:
                reply = route()
                failed = reply.status >= 300
        except Exception:
            tb = traceback.format_exc()
            with self._lock:
                self.errors.append(tb)
            method, path, headers, body, failed = "fake_error", handler.path, {}, {}, True
            reply = _Reply(500, {"ok": False, "error": "fake_internal_error", "detail": tb.splitlines()[-1]})

        record = RecordedRequest(
            method=method,
            path=handler.path,
            headers=headers,
            body=body,
            raw=raw,
            at=received_at,
            http_method=verb,
            status=reply.status,
            failed=failed,
            response=reply.payload if isinstance(reply.payload, dict) else None,
        )
        with self._lock:
            self._records.append(record)
        _write_reply(handler, reply)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply:
        headers: dict[str, str] = {}
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        payload = fault.body
        if payload is None:
            if fault.status == 429:
                payload = {"ok": False, "error": "ratelimited"}
            elif fault.status >= 500:
                payload = {"ok": False, "error": "internal_error"}
            else:
                payload = {"ok": False, "error": f"http_{fault.status}"}
        return _Reply(fault.status, payload, headers=headers)

    def _api(self, method: str, headers: dict[str, str], body: dict[str, Any]) -> _Reply:
        with self._lock:
            custom = self._custom.get(method)
        builtin = self._builtin.get(method)
        if custom is None and builtin is None:
            return _Reply(payload={"ok": False, "error": "unknown_method", "req_method": method})

        auth_error = self._check_token(method, headers, body)
        if auth_error is not None:
            return _Reply(payload={"ok": False, "error": auth_error})

        if custom is not None:
            result = custom(body) if callable(custom) else custom
            return _Reply(payload=json.loads(json.dumps(result)))
        with self._lock:
            return _Reply(payload=builtin(body))  # type: ignore[misc]

    def _check_token(self, method: str, headers: dict[str, str], body: dict[str, Any]) -> str | None:
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else body.get("token")
        if not token:
            return "not_authed"
        if method in _APP_TOKEN_METHODS:
            if token == self.app_token:
                return None
            return "not_allowed_token_type" if token == self.token else "invalid_auth"
        if token == self.token:
            return None
        return "not_allowed_token_type" if token == self.app_token else "invalid_auth"

    def _download(self, path: str, headers: dict[str, str]) -> _Reply:
        parts = path[len("/files/") :].split("/", 1)
        file_id = parts[0]
        with self._lock:
            meta = self._files.get(file_id)
        if meta is None or len(parts) != 2 or parts[1] != meta["name"]:
            return _Reply(404, b"Not Found", content_type="text/plain")
        if headers.get("authorization", "") != f"Bearer {self.token}":
            # Real Slack answers an unauthenticated url_private fetch with its HTML
            # sign-in page and status 200, not an error; bots must check content-type.
            page = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"
            return _Reply(200, page, content_type="text/html; charset=utf-8")
        return _Reply(
            200,
            meta["content"],
            content_type=meta["mimetype"],
            headers={"Content-Disposition": f'attachment; filename="{meta["name"]}"'},
        )

    # ------------------------------------------------------------------ ts / message store

    def _bump_ts_floor(self, ts: Any) -> None:
        if isinstance(ts, str) and re.fullmatch(r"\d+\.\d{6}", ts):
            self._last_ts_us = max(self._last_ts_us, _ts_to_us(ts))

    def _next_ts(self) -> str:
        self._last_ts_us += 100
        return _us_to_ts(self._last_ts_us)

    def _find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self._posted.get(channel, []):
            if m.get("ts") == ts:
                return m
        for (ch, _), msgs in self._threads.items():
            if ch == channel:
                for m in msgs:
                    if m.get("ts") == ts:
                        return m
        return None

    def _bot_message(self, ts: str, text: str) -> dict[str, Any]:
        return {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "icons": {"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
                "deleted": False,
                "updated": 1700000000,
                "team_id": self.team_id,
            },
        }

    def _check_message_content(self, body: dict[str, Any]) -> dict[str, Any] | None:
        text = body.get("text")
        blocks = body.get("blocks")
        attachments = body.get("attachments")
        if isinstance(blocks, str) or (blocks is not None and not isinstance(blocks, list)):
            return {"ok": False, "error": "invalid_blocks_format"}
        if isinstance(attachments, str):
            return {"ok": False, "error": "invalid_attachments"}
        if not text and not blocks and not attachments:
            return {"ok": False, "error": "no_text"}
        if isinstance(text, str) and len(text) > 40000:
            return {"ok": False, "error": "msg_too_long"}
        if blocks and self.validate_blocks:
            errors = validate_blocks(blocks)
            if errors:
                return {
                    "ok": False,
                    "error": "invalid_blocks",
                    "errors": errors,
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                }
        return None

    # ------------------------------------------------------------------ Web API methods
    # Each runs with self._lock held and receives the decoded request body.

    def _api_test(self, body: dict[str, Any]) -> dict[str, Any]:
        args = {k: v for k, v in body.items() if k != "token"}
        return {"ok": True, "args": args} if args else {"ok": True}

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.socket_mode_url() if callable(self.socket_mode_url) else self.socket_mode_url
        if not url:
            # No socket server attached: what Slack says when Socket Mode is off for the app.
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": url}

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        problem = self._check_message_content(body)
        if problem:
            return problem
        thread_ts = body.get("thread_ts") or None
        self._bump_ts_floor(thread_ts)
        ts = self._next_ts()
        message = self._bot_message(ts, body.get("text") or "")
        for key in ("blocks", "attachments", "metadata"):
            if body.get(key):
                message[key] = body[key]
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self._thread_parent_user(channel, thread_ts)
        self._posted.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": json.loads(json.dumps(message))}

    def _thread_parent_user(self, channel: str, thread_ts: str) -> str:
        parent = self._find_message(channel, thread_ts)
        return (parent or {}).get("user", "U0PARENT")

    def _chat_post_ephemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        problem = self._check_message_content(body)
        if problem:
            return problem
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body.get("channel"), body.get("ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        message = self._find_message(channel, ts) if ts else None
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("user") != self.bot_user_id:
            return {"ok": False, "error": "cant_update_message"}
        problem = self._check_message_content(body)
        if problem:
            return problem
        message["text"] = body.get("text") or ""
        for key in ("blocks", "attachments", "metadata"):
            if key in body:
                message[key] = body[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        text = message["text"]
        answer = {"ok": True, "channel": channel, "ts": ts, "text": text}
        answer["message"] = json.loads(json.dumps(message))
        return answer

    def _chat_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body.get("channel"), body.get("ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        message = self._find_message(channel, ts) if ts else None
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("user") != self.bot_user_id:
            return {"ok": False, "error": "cant_delete_message"}
        self._posted[channel] = [m for m in self._posted.get(channel, []) if m.get("ts") != ts]
        for key, msgs in self._threads.items():
            if key[0] == channel:
                self._threads[key] = [m for m in msgs if m.get("ts") != ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_get_permalink(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body.get("channel"), body.get("message_ts")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body.get("channel"), body.get("ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not ts:
            return {"ok": False, "error": "thread_not_found"}
        configured = self._threads.get((channel, ts))
        if configured is None:
            parent_user = self._posted_parent_user(channel, ts)
            configured = [
                {
                    "type": "message",
                    "user": parent_user,
                    "text": "",
                    "ts": ts,
                    "thread_ts": ts,
                    "reply_count": 0,
                }
            ]
        known = {m.get("ts") for m in configured}
        posted = [m for m in self._posted.get(channel, []) if m.get("thread_ts") == ts and m.get("ts") not in known]
        messages = sorted(configured + posted, key=lambda m: _ts_to_us(m.get("ts", "0.000000")))

        try:
            limit = max(1, int(body.get("limit") or 1000))
        except (TypeError, ValueError):
            return {"ok": False, "error": "invalid_limit"}
        offset = _decode_cursor(body.get("cursor"))
        page = messages[offset : offset + limit]
        if str(body.get("include_all_metadata")).lower() not in ("1", "true"):
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]  # as Slack
        has_more = offset + limit < len(messages)
        return {
            "ok": True,
            "messages": json.loads(json.dumps(page)),
            "has_more": has_more,
            "response_metadata": {"next_cursor": _encode_cursor(offset + limit) if has_more else ""},
        }

    def _posted_parent_user(self, channel: str, ts: str) -> str:
        for m in self._posted.get(channel, []):
            if m.get("ts") == ts:
                return m.get("user", self.bot_user_id)
        return "U0PARENT"

    def _conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = body.get("channel")
        if not channel_id:
            return {"ok": False, "error": "channel_not_found"}
        is_im = channel_id.startswith("D")
        is_private = channel_id.startswith("G")
        channel: dict[str, Any] = {
            "id": channel_id,
            "created": 1700000000,
            "is_archived": False,
            "is_org_shared": False,
            "is_shared": False,
            "is_ext_shared": False,
            "context_team_id": self.team_id,
            "updated": 1700000000000,
        }
        if is_im:
            channel.update({"is_im": True, "user": "U1", "is_user_deleted": False, "priority": 0})
        else:
            channel.update(
                {
                    "name": f"channel-{channel_id.lower()}",
                    "is_channel": not is_private,
                    "is_group": False,
                    "is_im": False,
                    "is_mpim": False,
                    "is_private": is_private,
                    "is_general": False,
                    "creator": "U1",
                    "is_member": True,
                    "name_normalized": f"channel-{channel_id.lower()}",
                    "topic": {"value": "", "creator": "", "last_set": 0},
                    "purpose": {"value": "", "creator": "", "last_set": 0},
                    "previous_names": [],
                }
            )
        channel.update(self._channels.get(channel_id, {}))
        return {"ok": True, "channel": json.loads(json.dumps(channel))}

    def _users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = body.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        is_bot = user_id == self.bot_user_id
        name = self.bot_name if is_bot else f"user-{user_id.lower()}"
        overrides = dict(self._users.get(user_id, {}))
        real_name = overrides.get("real_name", name.title())
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": overrides.get("name", name),
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": "America/Los_Angeles",
            "tz_label": "Pacific Standard Time",
            "tz_offset": -28800,
            "profile": {
                "avatar_hash": "ge3b51ca72de",
                "real_name": real_name,
                "display_name": overrides.get("display_name", name),
                "real_name_normalized": real_name,
                "display_name_normalized": overrides.get("display_name", name),
                "email": f"{name}@example.com",
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "is_email_confirmed": True,
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id
        overrides.pop("display_name", None)
        user.update(overrides)
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _reaction_key(self, body: dict[str, Any]) -> tuple[str, str, str] | dict[str, Any]:
        channel, ts, name = body.get("channel"), body.get("timestamp"), body.get("name")
        if not channel or not ts:
            return {"ok": False, "error": "no_item_specified"}
        if not name:
            return {"ok": False, "error": "invalid_name"}
        return (channel, ts, name.strip(":"))

    def _reactions_add(self, body: dict[str, Any]) -> dict[str, Any]:
        key = self._reaction_key(body)
        if isinstance(key, dict):
            return key
        if key in self._reactions:
            return {"ok": False, "error": "already_reacted"}
        self._reactions.add(key)
        return {"ok": True}

    def _reactions_remove(self, body: dict[str, Any]) -> dict[str, Any]:
        key = self._reaction_key(body)
        if isinstance(key, dict):
            return key
        if key not in self._reactions:
            return {"ok": False, "error": "no_reaction"}
        self._reactions.discard(key)
        return {"ok": True}

    def _files_info(self, body: dict[str, Any]) -> dict[str, Any]:
        file_id = body.get("file")
        if not file_id or file_id not in self._files:
            return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "file": self.file_object(file_id),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _views_write(self, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view")
        if not isinstance(view, dict) or not view.get("type"):
            return {"ok": False, "error": "invalid_arguments"}
        if view["type"] not in ("modal", "home"):
            return {"ok": False, "error": "invalid_arguments"}
        if self.validate_blocks:
            errors = validate_blocks(view.get("blocks") or [], max_blocks=100)
            if errors:
                return {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                }
        view_id = body.get("view_id") or f"V{next(self._view_ids):08d}"
        answer = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in view:
                answer[key] = view[key]
        return {"ok": True, "view": json.loads(json.dumps(answer))}


# ---------------------------------------------------------------------- HTTP helpers


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size_line = handler.rfile.readline().strip()
            size = int(size_line.split(b";", 1)[0] or b"0", 16)
            if size == 0:
                handler.rfile.readline()  # trailing CRLF after the last chunk
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _flatten(qs: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in qs.items()}


def _decode_body(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    body: dict[str, Any] = _flatten(parse_qs(query, keep_blank_values=True))
    ctype = content_type.split(";", 1)[0].strip().lower()
    if raw:
        if ctype == "application/json" or (not ctype and raw.lstrip().startswith(b"{")):
            decoded = json.loads(raw.decode("utf-8"))
            if isinstance(decoded, dict):
                body.update(decoded)
            else:
                body["_json"] = decoded
        elif ctype == "application/x-www-form-urlencoded" or not ctype:
            body.update(_flatten(parse_qs(raw.decode("utf-8"), keep_blank_values=True)))
        # multipart (legacy files.upload) stays available only via ``raw``
    for key in _JSON_STRING_FIELDS:
        value = body.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Not JSON: left a string; chat.postMessage then answers invalid_blocks_format.
            with contextlib.suppress(json.JSONDecodeError):
                body[key] = json.loads(value)
    return body


def _write_reply(handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
    if isinstance(reply.payload, (dict, list)):
        data = json.dumps(reply.payload).encode("utf-8")
        ctype = reply.content_type or "application/json; charset=utf-8"
    elif isinstance(reply.payload, bytes):
        data = reply.payload
        ctype = reply.content_type or "application/octet-stream"
    else:
        data = str(reply.payload or "").encode("utf-8")
        ctype = reply.content_type or "text/plain; charset=utf-8"
    try:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            handler.send_header(k, v)
        # One request per connection keeps stop() from racing idle keep-alive sockets.
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # client gave up (e.g. its timeout fired during set_delay); nothing to tell it
    handler.close_connection = True


def _ts_to_us(ts: str) -> int:
    seconds, _, frac = ts.partition(".")
    return int(seconds) * 1_000_000 + int((frac + "000000")[:6])


def _us_to_ts(us: int) -> str:
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"next_offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(str(cursor)).decode().split(":", 1)[1])
    except Exception:
        return 0


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value) if value is not None else "None"
    return text if len(text) <= limit else text[: limit - 3] + "..."
