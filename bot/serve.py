"""``citebot serve`` (and ``citebot serve slack|discord``): everything CiteBot runs, in one process.

This is the only way CiteBot runs: one logging set-up, one signal handling and drain, one
``/healthz``. One HTTP server on CITEBOT_PORT carries ``/healthz``, ``/metrics`` and, in Slack's
HTTP mode, ``/slack/events``. Beside it run the components: each chat platform whose credentials
are set (Slack, Discord, both or neither — or just the one named, ``serve slack``), the digest
scheduler with each platform's poster, and the retention sweep. They start in order and stop in
reverse.

Start-up: settings are checked before anything opens; the port opens at once (``/healthz`` says
503), the index loads, then the platforms connect and ``/healthz`` turns 200.

SIGTERM (or Ctrl-C): ``/healthz`` turns 503, the components stop taking questions (Slack's
socket closes and ``/slack/events`` answers 503 so Slack retries elsewhere; anything else that
still asks is told CiteBot is restarting), the questions in flight finish — answer and message —
for up to CITEBOT_SHUTDOWN_TIMEOUT seconds, then everything closes and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from .components import Component, PlatformComponent, StartupError
from .service import AnswerService
from .settings import Settings, masked_database_url
from .state import utcnow
from .web import make_web_app, start_web_app

__all__ = ["Component", "StartupError", "config_report", "run", "serve"]

log = logging.getLogger("citebot.serve")

RETENTION_EVERY = timedelta(hours=1)


# --- the platforms -------------------------------------------------------------------------------


def slack_wanted(settings: Settings) -> bool:
    """Any Slack credential means Slack is meant to run; check_settings then names what's missing."""
    return any((settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret))


def discord_wanted(settings: Settings) -> bool:
    return bool(settings.discord_token and settings.discord_token.get_secret_value().strip())


PLATFORMS = ("slack", "discord")


def platforms_to_run(settings: Settings, only: str | None = None) -> list[str]:
    """``only`` names the one platform to run (it must then be fully set up); without it, every
    platform with a credential set."""
    if only is not None:
        if only not in PLATFORMS:
            raise ValueError(f"unknown platform {only!r}: one of {', '.join(PLATFORMS)}")
        return [only]
    wanted = {"slack": slack_wanted, "discord": discord_wanted}
    return [name for name in PLATFORMS if wanted[name](settings)]


def platform_class(name: str) -> type[PlatformComponent]:
    # Imported when chosen: a Slack-only CiteBot never imports discord.py, and the other way round.
    if name == "slack":
        from .slack.platform import SlackPlatform

        return SlackPlatform
    from .discord.platform import DiscordPlatform

    return DiscordPlatform


def check_platforms(settings: Settings, names: list[str]) -> None:
    """Raise :class:`StartupError` naming the variable a chosen platform still needs; nothing is
    opened, so a wrong setting costs no index load."""
    for name in names:
        platform_class(name).check(settings)


# --- background services -------------------------------------------------------------------------


class Retention(Component):
    """Deletes question records (and their feedback) older than CITEBOT_RETENTION_DAYS, at start
    and every hour. Idempotent, so replicas sharing PostgreSQL may all run it."""

    name = "retention"

    def __init__(self, service: AnswerService, days: int, every: timedelta = RETENTION_EVERY):
        self.service, self.days, self.every = service, days, every
        self._task: asyncio.Task | None = None

    async def sweep(self) -> int:
        state = self.service.state
        if state is None:
            return 0
        try:
            deleted = await asyncio.to_thread(
                state.delete_questions_before, utcnow() - timedelta(days=self.days)
            )
        except Exception:  # a database blip must not stop serving; the next sweep retries
            log.exception("retention sweep failed")
            from .metrics import observe_error

            observe_error("state")
            return 0
        if deleted:
            log.info("retention: deleted %d question records older than %d days", deleted, self.days)
        return deleted

    async def _loop(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.every.total_seconds())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="citebot: retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> str:
        return f"retention ({self.days} days)"


class Background(Component):
    """Adapts an object with ``start()``/``stop()`` (plain or async) to a component."""

    def __init__(self, name: str, target: Any):
        self.name, self.target = name, target

    async def start(self) -> None:
        await _maybe_await(self.target.start())

    async def stop(self) -> None:
        await _maybe_await(self.target.stop())


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


def digest_component(
    settings: Settings, service: AnswerService, platforms: dict[str, PlatformComponent]
) -> Component | None:
    """The digest scheduler, handed each running platform's poster (built by the platform's own
    adapter, so bot/digest/ knows no platform)."""
    if service.state is None or not platforms:  # built from stored questions, posted to a platform
        return None
    from .digest.scheduler import DigestScheduler

    posters = {name: platform.digest_poster() for name, platform in platforms.items()}
    return Background(
        "digest", DigestScheduler(settings=settings, service=service, platforms=posters)
    )


# --- what serve would run: `citebot config check` ------------------------------------------------


def config_report() -> tuple[list[str], list[str]]:
    """Every setting (set or default, secrets masked) and each platform's state, as lines to
    print; and the problems, one line each naming the variable. No problems: serve can start."""
    from pydantic import ValidationError

    from .settings import SECRET_FIELDS, SettingsError, env_name

    problems: list[str] = []
    invalid: set[str] = set()
    try:
        settings = Settings()
    except ValidationError as exc:
        error = SettingsError(exc)
        problems.extend(error.lines)
        invalid = set(error.fields)
        # Show the rest of the configuration anyway, with the wrong values at their defaults.
        settings = Settings(**{
            name: Settings.model_fields[name].get_default(call_default_factory=True)
            for name in invalid
        })

    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name in invalid:
            shown, status = "(invalid)", "INVALID"
        else:
            status = "set" if name in settings.model_fields_set else "default"
            if value is None or value == []:
                shown = "(none)"
            elif name == "database_url":
                shown = masked_database_url(settings)
            elif name in SECRET_FIELDS:
                shown = "******** (hidden)"
            elif isinstance(value, list):
                shown = ",".join(map(str, value))
            else:
                shown = str(value)
        rows.append((env_name(name), shown, status))
    width = max(len(row[0]) for row in rows)
    lines = ["Settings (environment, then .env, then defaults):"]
    lines += [f"  {env:<{width}}  {shown}  [{status}]" for env, shown, status in rows]

    lines.append("Platforms:")
    if slack_wanted(settings):
        from .slack.app import check_settings
        from .slack.clients import SlackSettingsError

        try:
            check_settings(settings)
            mode = settings.effective_slack_mode
            lines.append(
                "  slack    ready: " + ("Socket Mode" if mode == "socket" else
                                        f"HTTP mode on port {settings.port}, /slack/events")
            )
        except SlackSettingsError as exc:
            problems.append(str(exc))
            lines.append(f"  slack    incomplete: {exc}")
    else:
        lines.append(
            "  slack    not configured (needs SLACK_BOT_TOKEN, and SLACK_APP_TOKEN for Socket "
            "Mode or SLACK_SIGNING_SECRET for HTTP mode)"
        )
    if discord_wanted(settings):
        lines.append("  discord  ready (the token is checked with Discord when serving starts)")
    else:
        lines.append("  discord  not configured (needs DISCORD_TOKEN)")
    lines.append(f"HTTP: /healthz and /metrics on port {settings.port}")
    lines.append(f"State store: {masked_database_url(settings)}")
    lines.append(
        "Retention: question records are kept "
        + (f"{settings.retention_days} days" if settings.retention_days else "forever")
    )
    return lines, problems


# --- serve ---------------------------------------------------------------------------------------


async def serve(
    settings: Settings,
    *,
    only: str | None = None,
    service: AnswerService | None = None,
    stop: asyncio.Event | None = None,
    extra: list[Component] | None = None,
) -> None:
    """Serve until ``stop`` is set or SIGTERM/SIGINT arrives, then shut down gracefully.
    ``only`` ("slack" or "discord") runs that platform alone, whatever else is configured.

    Raises :class:`StartupError` (one line naming the setting) when serving cannot start.
    """
    from .runtime import open_service

    names = platforms_to_run(settings, only)
    check_platforms(settings, names)
    stop = stop or asyncio.Event()
    owned = service is None
    if service is None:
        try:
            service = open_service(settings)
        except SQLAlchemyError as exc:
            raise StartupError(
                f"cannot open the state store at {masked_database_url(settings)}: "
                f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]} (check CITEBOT_DATABASE_URL)"
            ) from None
    try:
        await _serve(settings, service, names, stop, extra or [])
    finally:
        if owned and service.state is not None:
            service.state.close()


async def _serve(
    settings: Settings,
    service: AnswerService,
    names: list[str],
    stop: asyncio.Event,
    extra: list[Component],
) -> None:
    stopping = False
    components: list[Component] = []

    def ready() -> bool:
        return (
            not stopping
            and service.accepting
            and service.index.ready
            and all(c.ready() for c in components)
        )

    web_app = make_web_app(ready)
    web_app.middlewares.append(_refuse_when_stopping(service))
    platforms: dict[str, PlatformComponent] = {
        name: platform_class(name)(settings, service, web_app) for name in names
    }
    components.extend(platforms.values())
    digest = digest_component(settings, service, platforms)
    if digest is not None:
        components.append(digest)
    if settings.retention_days > 0:
        components.append(Retention(service, settings.retention_days))
    components.extend(extra)

    try:
        runner = await start_web_app(web_app, port=settings.port)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on port {settings.port} ({exc.strerror or exc}): set CITEBOT_PORT "
            "to a free port"
        ) from None

    started: list[Component] = []
    with _stop_on_signals(stop):
        try:
            warming = asyncio.create_task(service.warm_up())
            if not await _first(warming, stop):
                return  # asked to stop while the index was still loading
            for component in components:
                started.append(component)  # stopped even if its start fails half-way
                await component.start()
            _announce(settings, platforms, components)
            watched = [c.watched for c in started if c.watched is not None]
            died = await _first_of(watched, stop)
            if died is not None:
                died.result()  # re-raises the component's error
                raise StartupError(f"{died.get_name()} stopped unexpectedly")
        finally:
            stopping = True
            service.accepting = False  # before the platforms close, so nothing slips in between
            # A large /add still embedding stops at its next chunk, writing nothing, rather than
            # holding the process past its shutdown (its worker thread cannot be cancelled).
            service.index.close()
            log.info("stopping: no new questions")
            for component in reversed(started):
                with _logged(f"stopping {component.name}"):
                    await component.stop_taking_questions()
            unfinished = await service.drain(settings.shutdown_timeout)
            if unfinished:
                log.warning(
                    "%d questions still in flight after %ss; stopping anyway",
                    unfinished, settings.shutdown_timeout,
                )
            for component in reversed(started):
                with _logged(f"stopping {component.name}"):
                    await component.stop()
            await runner.cleanup()
            log.info("stopped")


def _refuse_when_stopping(service: AnswerService):
    from .slack.http import EVENTS_PATH

    @web.middleware
    async def middleware(request: web.Request, handler):
        # 503 on /slack/events makes Slack retry the delivery, which another replica can take;
        # on /healthz it takes this replica out of a load balancer.
        if request.path in (EVENTS_PATH, "/healthz") and not service.accepting:
            return web.json_response({"status": "stopping"}, status=503)
        return await handler(request)

    return middleware


async def _first(task: asyncio.Task, stop: asyncio.Event) -> bool:
    """Wait for ``task`` unless ``stop`` comes first; True when the task finished (re-raising)."""
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        task.result()
        return True
    return False


async def _first_of(tasks: list[asyncio.Task], stop: asyncio.Event) -> asyncio.Task | None:
    """Wait for ``stop``, or for one of ``tasks`` to end first (then return it)."""
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({*tasks, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    return next((t for t in done if t is not stopped), None)


def _announce(
    settings: Settings, platforms: dict[str, PlatformComponent], components: list[Component]
) -> None:
    where = f"HTTP on port {settings.port} (/healthz, /metrics)"
    if platforms:
        log.info(
            "CiteBot is serving: %s; %s",
            ", ".join(c.describe() for c in components), where,
        )
    else:
        log.info(
            "CiteBot is serving %s only: no chat platform is configured (set SLACK_BOT_TOKEN "
            "with SLACK_APP_TOKEN or SLACK_SIGNING_SECRET, or DISCORD_TOKEN); running: %s",
            where, ", ".join(c.describe() for c in components) or "nothing else",
        )


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event):
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _logged(what: str):
    # One component failing to stop must not keep the others (or the exit) from happening.
    try:
        yield
    except Exception:
        log.exception("%s failed", what)


def run(settings: Settings, only: str | None = None) -> None:
    """``citebot serve`` (``only``: ``serve slack``, ``serve discord``): blocks until SIGTERM or
    Ctrl-C; exits 0 after a clean stop."""
    from index.errors import CiteBotError

    from .logs import configure_logging

    configure_logging(settings)
    try:
        asyncio.run(serve(settings, only=only))
    except (StartupError, CiteBotError) as exc:  # e.g. an unreadable index: the fix, not a traceback
        raise SystemExit(f"citebot: {exc}") from None
