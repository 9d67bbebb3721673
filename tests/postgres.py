"""A real PostgreSQL server for the test session, on 127.0.0.1 and a free port.

``postgres_server`` runs initdb into a temporary directory and starts the server with pg_ctl;
``postgres_url`` gives each test a database of its own on it, dropped afterwards. The server
refuses to run as root, so as root it runs as the ``postgres`` user (through runuser).

Without the server binaries the tests that need it are skipped with the reason — except in CI
(``CI`` set), where .ci/run installs PostgreSQL, so a missing server is a failure, never a skip.

Import the fixtures into a test module: ``from tests.postgres import postgres_server, postgres_url``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: ``pg_config --bindir``, else the newest Debian layout."""
    candidates = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
        except subprocess.CalledProcessError:
            pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    bindir: Path
    datadir: Path
    port: int
    as_user: str | None
    options: str = ""  # what pg_ctl start was given, so a test can stop and start it again

    def command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        return prefix + list(args)

    def run(self, *args: str) -> None:
        result = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.datadir.parent / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stderr}\n{tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://citebot@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server, as an outage would (fast: open connections are cut)."""
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start it again after :meth:`stop`, on the same port with the same data."""
        self.run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
            "-l", str(self.datadir.parent / "server.log"), "-o", self.options, "-w", "-t", "60",
            "start",
        )


def _start(bindir: Path) -> tuple[PostgresServer, Path]:
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            pytest.fail(f"running as root needs the '{SERVER_USER}' user to run PostgreSQL as")
        as_user = SERVER_USER
    # Not pytest's tmp_path: as root that lies under a 0700 directory the server user can't enter.
    root = Path(tempfile.mkdtemp(prefix="citebot-pg-"))
    server = PostgresServer(bindir, root / "data", _free_port(), as_user)
    if as_user:
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server.run(
        str(bindir / "initdb"), "-D", str(server.datadir), "-U", "citebot",
        "--auth=trust", "--encoding=UTF8", "--no-sync",
    )
    # Durability settings off: a throwaway test server. The socket lives in our own directory.
    server.options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    server.start()
    return server, root


@pytest.fixture(scope="session")
def postgres_server():
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: `apt-get install postgresql` "
            "to run the state tests on PostgreSQL too"
        )
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must not skip them: .ci/run installs it)")
        pytest.skip(reason)
    server, root = _start(bindir)
    try:
        yield server
    finally:
        subprocess.run(
            server.command(str(bindir / "pg_ctl"), "-D", str(server.datadir), "-m", "fast", "-w", "stop"),
            capture_output=True, timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        postgres_server.url().replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=True,  # a test may restart the server under it
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_server.url(name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
