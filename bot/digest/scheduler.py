"""Posting digests: :class:`DigestRunner` posts one channel's digest exactly once;
:class:`DigestScheduler` runs it at each channel's time, and catches up after a restart.

Exactly once, across restarts and replicas: before building a digest the runner claims the run
in the state store under a key unique per (platform, channel, local date). A second scheduler —
another replica, or this one after a restart — finds the claim and does nothing. A run missed
while CiteBot was down is posted when it comes back within :data:`GRACE` (once, however many
days were missed); later than that it is recorded as missed and the next day's digest covers
the gap. A claimed run whose post failed is retried on the next refresh, up to three attempts;
a process that dies between claiming and posting leaves the claim, so that day is skipped rather
than risk a double post.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from index.engine import CiteIndex

from ..state import DigestSettings, StateStore
from .content import Digest, build_digest, window_start
from .schedule import Schedule, ScheduleError, due_slot

log = logging.getLogger("citebot.digest")

GRACE = timedelta(hours=6)
# Settings changed by /digest on another replica, and runs missed while down, are picked up on
# this beat; each channel's own job fires at its exact time in between.
REFRESH = timedelta(seconds=60)
STOP_TIMEOUT = 20.0  # seconds stop() waits for a digest being posted

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Poster(Protocol):
    """Sends a digest to a channel of one platform; returns the message id (ts on Slack)."""

    platform: str

    async def post(self, channel: str, digest: Digest) -> str | None: ...


@dataclass(frozen=True)
class RunResult:
    platform: str
    channel: str
    slot: str
    # posted, empty (nothing new: not posted), failed, missed (too late), taken (by another)
    status: str
    run_id: int | None = None
    message: str | None = None
    digest: Digest | None = None


class DigestRunner:
    """Claims, builds and posts digests. Has no clock of its own: every call is given ``now``."""

    def __init__(
        self,
        index: CiteIndex,
        state: StateStore,
        posters: Iterable[Poster],
        *,
        grace: timedelta = GRACE,
    ):
        self.index = index
        self.state = state
        self.posters = {poster.platform: poster for poster in posters}
        self.grace = grace

    @property
    def platforms(self) -> list[str]:
        return sorted(self.posters)

    async def run_due(
        self, now: datetime, channels: list[DigestSettings] | None = None
    ) -> list[RunResult]:
        """Deal with every channel whose run is due at ``now``: what a scheduler tick does."""
        if channels is None:
            channels = await asyncio.to_thread(self.state.enabled_digests, self.platforms)
        results = []
        for settings in channels:
            result = await self.run_scheduled(settings, now)
            if result is not None:
                results.append(result)
        return results

    async def run_scheduled(self, settings: DigestSettings, now: datetime) -> RunResult | None:
        """Post ``settings``' channel's latest scheduled digest if it is due and not yet done."""
        if not settings.enabled or settings.platform not in self.posters:
            return None
        try:
            schedule = Schedule.parse(settings.at_time, settings.timezone)
        except ScheduleError as exc:
            log.error(
                "digest for %s %s has an unusable schedule: %s",
                settings.platform,
                settings.channel,
                exc,
            )
            return None
        due = due_slot(schedule, now, since=settings.enabled_at, grace=self.grace)
        if due is None:
            return None
        run_at, in_time = due
        slot = schedule.slot(run_at)
        where = (settings.platform, settings.channel)
        existing = await asyncio.to_thread(self.state.digest_run, *where, slot)
        if existing is not None and existing["status"] != "failed":
            return None  # done, or being done, here or by another replica
        if not in_time:
            if existing is None and await asyncio.to_thread(
                self.state.claim_digest_run,
                *where,
                slot,
                kind="scheduled",
                scheduled_for=run_at,
                status="missed",
                at=now,
            ) is not None:
                log.warning(
                    "skipped the %s digest for %s %s: back %s after it was due, beyond the %s "
                    "grace window; the next digest covers the gap",
                    slot,
                    *where,
                    now - run_at,
                    self.grace,
                )
                return RunResult(*where, slot, "missed")
            return None
        return await self._run(
            *where,
            slot=slot,
            kind="scheduled",
            scheduled_for=run_at,
            now=now,
            post_empty=settings.post_empty,
            zone=schedule.zone,
        )

    async def send_now(self, platform: str, channel: str, now: datetime | None = None) -> RunResult:
        """Post the digest at once (``/digest now``, ``citebot digest send``), even if quiet.
        The next scheduled digest then covers what came after it."""
        now = now or utc_now()
        return await self._run(
            platform,
            channel,
            slot=f"manual:{uuid.uuid4().hex}",
            kind="manual",
            scheduled_for=None,
            now=now,
            post_empty=True,
            zone=await self._zone(platform, channel),
        )

    async def preview(
        self, platform: str | None, channel: str | None, now: datetime | None = None
    ) -> Digest:
        """The digest as it would be posted now; nothing is claimed or recorded."""
        now = now or utc_now()
        zone = await self._zone(platform, channel) if platform and channel else ZoneInfo("UTC")
        return await asyncio.to_thread(
            build_digest,
            self.index,
            self.state,
            platform=platform,
            channel=channel,
            until=now,
            zone=zone,
        )

    async def _zone(self, platform: str, channel: str) -> ZoneInfo:
        settings = await asyncio.to_thread(self.state.digest_settings, platform, channel)
        try:
            return (
                Schedule.parse(settings.at_time, settings.timezone).zone
                if settings
                else ZoneInfo("UTC")
            )
        except ScheduleError:
            return ZoneInfo("UTC")

    async def _run(
        self,
        platform: str,
        channel: str,
        *,
        slot: str,
        kind: str,
        scheduled_for: datetime | None,
        now: datetime,
        post_empty: bool,
        zone: ZoneInfo,
    ) -> RunResult:
        poster = self.posters.get(platform)
        if poster is None:
            raise ValueError(f"no way to post to {platform}: this runner posts to {self.platforms}")
        since = await asyncio.to_thread(window_start, self.state, platform, channel, now)
        run_id = await asyncio.to_thread(
            self.state.claim_digest_run,
            platform,
            channel,
            slot,
            kind=kind,
            scheduled_for=scheduled_for,
            window_start=since,
            at=now,
        )
        if run_id is None:
            log.debug("the %s digest for %s %s is another scheduler's", slot, platform, channel)
            return RunResult(platform, channel, slot, "taken")
        digest = None
        try:
            digest = await asyncio.to_thread(
                build_digest,
                self.index,
                self.state,
                platform=platform,
                channel=channel,
                since=since,
                until=now,
                zone=zone,
            )
            if digest.quiet and not post_empty:
                await asyncio.to_thread(
                    self.state.finish_digest_run,
                    run_id,
                    "empty",
                    window_end=now,
                    questions=0,
                    at=now,
                )
                log.info(
                    "nothing new for the %s digest of %s %s: not posted", slot, platform, channel
                )
                return RunResult(platform, channel, slot, "empty", run_id, digest=digest)
            message = await poster.post(channel, digest)
        except Exception as exc:
            log.exception("the %s digest for %s %s failed", slot, platform, channel)
            await self._record_failure(run_id, f"{type(exc).__name__}: {exc}", now)
            return RunResult(platform, channel, slot, "failed", run_id, digest=digest)
        try:
            await asyncio.to_thread(
                self.state.finish_digest_run,
                run_id,
                "posted",
                window_end=now,
                questions=digest.asked,
                message=message,
                at=now,
                documents=[(d.doc_id, d.content_hash) for d in digest.documents],
            )
        except Exception:  # posted, so never "failed" (a retry would post twice); say so loudly
            log.exception(
                "posted the %s digest to %s %s but could not record it", slot, platform, channel
            )
        log.info(
            "posted the %s digest to %s %s (%d new documents, %d questions)",
            slot,
            platform,
            channel,
            len(digest.documents),
            digest.asked,
        )
        return RunResult(platform, channel, slot, "posted", run_id, message, digest)

    async def _record_failure(self, run_id: int, error: str, now: datetime) -> None:
        try:
            await asyncio.to_thread(
                self.state.finish_digest_run, run_id, "failed", error=error, at=now
            )
        except Exception:
            log.exception("could not record the failed digest run %s", run_id)


# --- the scheduler -------------------------------------------------------------------------------


class DailyTrigger(BaseTrigger):
    """An APScheduler trigger firing at :meth:`Schedule.next_run`: APScheduler runs the timers
    and the job bookkeeping, the schedule's pure function says when."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return self.schedule.next_run(previous_fire_time or now)

    def __str__(self) -> str:
        return f"daily at {self.schedule.describe()}"

    def __repr__(self) -> str:
        return f"<DailyTrigger {self.schedule.describe()}>"


REFRESH_JOB = "digest:refresh"


class DigestScheduler:
    """Posts each enabled channel's digest at its time, on the platforms given.

    Built either from the running service and each platform's poster, which the platform's
    adapter builds — ``DigestScheduler(service=service, platforms={"slack": SlackPoster(client),
    "discord": DiscordPoster(bot)})`` — or from a ready :class:`DigestRunner`. ``await start()``
    in the running event loop and ``await stop()`` on the way out; ``async with`` does both.
    ``clock`` lets tests fix "now". ``settings`` is accepted for ``citebot serve``'s sake and
    not needed otherwise.
    """

    def __init__(
        self,
        *,
        service: Any = None,
        platforms: Mapping[str, Poster] | None = None,
        runner: DigestRunner | None = None,
        settings: Any = None,
        grace: timedelta = GRACE,
        refresh: timedelta = REFRESH,
        clock: Clock | None = None,
    ):
        if runner is None:
            if service is None or service.state is None:
                raise ValueError(
                    "DigestScheduler needs the service with its state store, or a runner"
                )
            posters = list((platforms or {}).values())
            runner = DigestRunner(service.index, service.state, posters, grace=grace)
        self.runner = runner
        self.settings = settings
        self.refresh_every = refresh
        self.clock = clock or utc_now
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task] = set()

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            # The runner applies the grace window itself, so APScheduler must not drop a late
            # run; two late firings of one job come to one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(
            self._guarded,
            IntervalTrigger(seconds=self.refresh_every.total_seconds()),
            args=(self.refresh,),
            id=REFRESH_JOB,
            next_run_time=utc_now(),
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "digest scheduler started for %s", ", ".join(self.runner.platforms) or "no platform"
        )

    async def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        scheduler.remove_all_jobs()
        # Let a digest being posted finish: cancelled between its post and its record, it would
        # stay claimed but unrecorded.
        pending = {task for task in self._running if not task.done()}
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # APScheduler shuts down on the loop's next turn
        log.info("digest scheduler stopped")

    async def __aenter__(self) -> DigestScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def next_runs(self) -> dict[tuple[str, str], datetime]:
        """When each channel's job fires next, as APScheduler has it."""
        if self._scheduler is None:
            return {}
        return {
            tuple(job.args[1:]): job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.id != REFRESH_JOB and job.next_run_time is not None
        }

    async def refresh(self) -> list[RunResult]:
        """Match the jobs to the channels' settings in the store, then post what is due."""
        channels = await asyncio.to_thread(self.runner.state.enabled_digests, self.runner.platforms)
        if self._scheduler is not None:
            self._sync_jobs(self._scheduler, channels)
        return await self.runner.run_due(self.clock(), channels)

    def _sync_jobs(self, scheduler: AsyncIOScheduler, channels: list[DigestSettings]) -> None:
        wanted: dict[str, tuple[DigestSettings, Schedule]] = {}
        for settings in channels:
            try:
                schedule = Schedule.parse(settings.at_time, settings.timezone)
            except ScheduleError:
                continue  # run_scheduled logs it
            wanted[f"digest:{settings.platform}:{settings.channel}"] = (settings, schedule)
        for job in scheduler.get_jobs():
            if job.id != REFRESH_JOB and job.id not in wanted:
                job.remove()
        for job_id, (settings, schedule) in wanted.items():
            job = scheduler.get_job(job_id)
            if job is not None and job.trigger.schedule == schedule:
                continue
            scheduler.add_job(
                self._guarded,
                DailyTrigger(schedule),
                args=(self._fire, settings.platform, settings.channel),
                id=job_id,
                replace_existing=True,
            )

    async def _fire(self, platform: str, channel: str) -> RunResult | None:
        # Read again: another replica may have switched the channel off since the last refresh.
        settings = await asyncio.to_thread(self.runner.state.digest_settings, platform, channel)
        if settings is None or not settings.enabled:
            return None
        return await self.runner.run_scheduled(settings, self.clock())

    async def _guarded(self, job: Callable[..., Any], *args: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await job(*args)
        except Exception:  # a store outage must not end the schedule; the next beat retries
            log.exception("digest job %s failed", getattr(job, "__name__", job))
        finally:
            if task is not None:
                self._running.discard(task)
