"""The Dockerfile and docker-compose.yml agree with the code. (scripts/docker-smoke.sh builds and
runs the image for real; it needs root and buildah, so it is not part of this suite.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_every_package_the_wheel_ships_is_copied_into_the_image():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {c.split()[0] for c in instructions("COPY")}
    assert packages | {"corpus"} <= copied


def test_the_index_is_baked_by_the_non_root_user_before_the_volume_is_declared():
    env = " ".join(instructions("ENV"))
    home = re.search(r"CITEBOT_HOME=(\S+)", env).group(1)
    assert "HF_HUB_OFFLINE=1" in env
    [user] = instructions("USER")
    assert user not in ("root", "0")
    # Files written under a volume after VOLUME are dropped, so the rebuild must come first.
    assert DOCKERFILE.index("USER ") < DOCKERFILE.index("citebot index rebuild")
    assert DOCKERFILE.index("citebot index rebuild") < DOCKERFILE.index("VOLUME")
    assert home in instructions("VOLUME")[0]
    # The runtime carries neither torch nor Milvus: the install step fails if either slipped in.
    [install] = [r for r in instructions("RUN") if "pip install" in r]
    assert "'torch'" in install and "'pymilvus'" in install and "not for this image" in install
    [health] = instructions("HEALTHCHECK")
    assert "/healthz" in health


def test_compose_runs_the_bot_on_its_postgresql_with_time_to_drain():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bot, database = compose["services"]["citebot"], compose["services"]["postgres"]
    url = bot["environment"]["CITEBOT_DATABASE_URL"]
    assert url.startswith("postgresql://citebot:") and "@postgres:5432/citebot" in url
    assert database["environment"]["POSTGRES_DB"] == "citebot"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert any(v.endswith(":/var/lib/citebot") for v in bot["volumes"])
    grace = int(bot["stop_grace_period"].rstrip("s"))
    assert grace > Settings.model_fields["shutdown_timeout"].default
