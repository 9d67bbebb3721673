"""Load, bounded in count (not timed): 200 concurrent Slack events to /slack/events and 200 /ask
interactions through the fake Discord gateway, twice each. Every one is answered exactly once
with no error, nothing is left behind, and memory holds steady. CI runs 100 of each.

The same harness is ``bench/load.py``, which reports latency and throughput with the real model.
"""

from __future__ import annotations

import os

import pytest
from prometheus_client import REGISTRY

from bench import load

COUNT = 100 if os.environ.get("CI") else 200
# RSS may grow a little as allocators and caches settle; a leak of even a few KiB per question
# would pass this bound within a handful of rounds.
STEADY_MIB = 32


@pytest.mark.asyncio
async def test_concurrent_questions_on_both_platforms_are_each_answered_once(tmp_path):
    service = load.open_service(tmp_path / "home", "hashing")
    try:
        results = await load.run_load(
            service, tmp_path / "home", slack=COUNT, discord=COUNT, rounds=2, timeout=240
        )
    finally:
        service.state.close()
    assert [(r.platform, r.sent) for r in results] == [("slack", COUNT)] * 2 + [("discord", COUNT)] * 2
    for result in results:
        result.check()  # every question answered exactly once, no error, no apology
        assert len(result.latencies) == COUNT
    for platform in ("slack", "discord"):
        first, second = [r for r in results if r.platform == platform]
        assert second.rss_after - first.rss_after < STEADY_MIB * 1024 * 1024, (platform, first, second)
    # Nothing left behind once the load is over: no handler, no per-person queue, no unsaved record.
    assert not [t for t in service._askers if not t.done()]
    assert service._turns == {} and service.unsaved == 0
    assert REGISTRY.get_sample_value("citebot_questions_in_flight") == 0


def test_the_load_benchmark_runs_and_writes_its_section(tmp_path):
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\n## Performance\n\nkept\n")
    args = ["--slack", "4", "--discord", "4", "--alone", "2", "--embedder", "hashing",
            "--benchmarks", str(benchmarks)]
    results = load.main(args)
    assert [(r.label, r.answered_once) for r in results] == [("alone", 2), ("1", 4), ("2", 4)] * 2
    assert all(r.percentile(95) >= r.percentile(50) > 0 and r.throughput > 0 for r in results)
    load.main(args)
    text = benchmarks.read_text()
    assert text.count("## Load") == 1 and "kept" in text
    assert "| slack | 2 | 4 |" in text and "| discord | 1 | 4 |" in text and "p95 latency" in text
    assert "| slack | one at a time | 2 |" in text and "the p50 of a question asked alone" in text
