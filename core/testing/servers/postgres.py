"""A throwaway PostgreSQL server on 127.0.0.1, for tests.

The cluster lives in a temp folder (data, socket, ``postgres.log``) that :meth:`PostgresServer.stop`
deletes. Authentication is ``trust``: fine for a server that only listens on loopback and lives
for one test session. PostgreSQL refuses to run as root, so when the tests run as root the
binaries run as the ``postgres`` user (through ``runuser``) and the temp folder belongs to it.
When ``initdb`` is missing and we are root, the Debian ``postgresql`` package is installed once.

:class:`ExternalPostgresServer` offers the same methods for an existing server given by URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

from core.testing.servers.process import (
    LOOPBACK,
    apt_install,
    can_apt_install,
    free_ports,
    log_tail,
    track,
    untrack,
)

_PREFERRED_BIN_DIR = "/usr/lib/postgresql/15/bin"
_OWNER = "postgres"
_install_lock = threading.Lock()
_install_attempted = False


class PostgresServerError(RuntimeError):
    """The server could not be set up, started or stopped; the message includes its log tail."""


def find_bin_dir() -> Path | None:
    """Return the folder holding ``initdb`` and ``pg_ctl`` (version 15 preferred), or ``None``."""
    candidates = [_PREFERRED_BIN_DIR, *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def ensure_bin_dir() -> Path:
    """Return the PostgreSQL bin folder, installing the Debian package once if we are root."""
    global _install_attempted
    with _install_lock:
        found = find_bin_dir()
        if found is not None:
            return found
        if not can_apt_install() or _install_attempted:
            raise PostgresServerError(
                "PostgreSQL is not installed (no initdb); install it with "
                "`apt-get install -y postgresql`, or point PARTSBIN_TEST_POSTGRES_URL at a server"
            )
        _install_attempted = True
        try:
            apt_install("postgresql")
        except RuntimeError as exc:
            raise PostgresServerError(str(exc)) from None
        found = find_bin_dir()
        if found is None:
            raise PostgresServerError("installed postgresql but still found no initdb")
        return found


class PostgresServer:
    """One PostgreSQL cluster on a free loopback port, superuser ``postgres``, trust auth."""

    def __init__(self, *, startup_timeout: int = 30) -> None:
        self.startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._port: int | None = None
        self._bin: Path | None = None
        self._running = False

    # --- what clients need ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>`` (append ``/<database>``)."""
        if self._port is None:
            raise PostgresServerError("the server has not been started")
        return f"postgresql://{_OWNER}@{LOOPBACK}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresServerError("the server has not been started")
        return self._port

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def folder(self) -> Path | None:
        """The temp folder holding the cluster, socket and log (``None`` when stopped)."""
        return self._dir

    def create_database(self, name: str) -> str:
        """Create the database ``name`` and return its URL."""
        self._admin_execute("CREATE DATABASE {}", name)
        return f"{self.base_url}/{quote(name, safe='')}"

    def drop_database(self, name: str) -> None:
        """Drop the database ``name`` if it exists, disconnecting its sessions."""
        self._admin_execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    # --- life cycle ----------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> None:
        """Create a cluster in a new temp folder and start it on a free port.

        Raises :class:`PostgresServerError` with the log tail if it does not start within
        ``startup_timeout`` seconds; the temp folder is removed in that case.
        """
        if self._dir is not None:
            raise PostgresServerError("the server is already started")
        self._bin = ensure_bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="partsbin-pg-"))
        track(self)
        try:
            if os.geteuid() == 0:
                owner = pwd.getpwnam(_OWNER)
                os.chown(self._dir, owner.pw_uid, owner.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self._data_dir),
                "-U",
                _OWNER,
                "--auth-local=trust",
                "--auth-host=trust",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--locale=C",
            )
            for attempt in range(1, attempts + 1):
                (self._port,) = free_ports(1)
                try:
                    self._pg_ctl_start()
                    return
                except PostgresServerError as exc:
                    if attempt == attempts or "could not bind" not in str(exc):
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL) and delete the temp folder.

        Safe to call at any time, any number of times.
        """
        try:
            if self._dir is not None and (self._data_dir / "postmaster.pid").exists():
                try:
                    self._pg_ctl_stop(mode="immediate")
                except PostgresServerError:
                    self._kill_postmaster()
                    raise
        finally:
            self._running = False
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            untrack(self)

    def restart(self) -> None:
        """Stop the server and start it again on the same port with the same data."""
        if self._dir is None:
            raise PostgresServerError("the server has not been started")
        if self._running:
            self._pg_ctl_stop(mode="fast")
        self._pg_ctl_start()

    def halt(self) -> None:
        """Stop the server but keep its port and data (an outage); :meth:`restart` ends it."""
        if self._dir is None:
            raise PostgresServerError("the server has not been started")
        if self._running:
            self._pg_ctl_stop(mode="fast")

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------

    @property
    def _data_dir(self) -> Path:
        assert self._dir is not None
        return self._dir / "data"

    @property
    def _log_path(self) -> Path:
        assert self._dir is not None
        return self._dir / "postgres.log"

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self._port} -k {self._dir} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self._data_dir),
            "-l",
            str(self._log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(self.startup_timeout),
            "start",
        )
        self._running = True

    def _pg_ctl_stop(self, *, mode: str) -> None:
        self._run("pg_ctl", "-D", str(self._data_dir), "-m", mode, "-w", "-t", "30", "stop")
        self._running = False

    def _kill_postmaster(self) -> None:
        """SIGKILL the postmaster named in ``postmaster.pid`` (after ``pg_ctl stop`` failed)."""
        try:
            pid = int((self._data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)
        except (OSError, ValueError, IndexError):
            pass

    def _run(self, program: str, *args: str) -> None:
        assert self._bin is not None
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _OWNER, "--", *command]
        try:
            result = subprocess.run(
                command,
                cwd=self._dir,
                capture_output=True,
                text=True,
                timeout=self.startup_timeout + 30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise self._error(f"`{program} {args[-1]}` did not finish in time", "") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise self._error(f"`{program}` failed with status {result.returncode}", output)

    def _error(self, reason: str, output: str) -> PostgresServerError:
        tail = log_tail(self._log_path) if self._dir is not None else ""
        return PostgresServerError(f"{reason}\n{output}\n--- postgres log tail ---\n{tail}")

    def _admin_url(self) -> str:
        return f"{self.base_url}/postgres"

    def _admin_execute(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        query = sql.SQL(statement).format(sql.Identifier(name))
        with psycopg.connect(self._admin_url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(query)


class ExternalPostgresServer(PostgresServer):
    """An existing server given by URL (``postgresql://user:pass@host:port/maintenance_db``).

    :meth:`start` and :meth:`stop` do nothing; :meth:`restart` is not possible.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise PostgresServerError(f"{url!r} is not a postgresql://user@host:port/database URL")
        self._base = f"{parts.scheme}://{parts.netloc}"
        self._maintenance_db = parts.path.lstrip("/") or "postgres"
        self._port = parts.port or 5432
        self._running = True

    @property
    def base_url(self) -> str:
        return self._base

    def start(self, *, attempts: int = 3) -> None:
        return None

    def stop(self) -> None:
        return None

    def restart(self) -> None:
        raise PostgresServerError(
            "cannot restart the external server named by PARTSBIN_TEST_POSTGRES_URL"
        )

    def _admin_url(self) -> str:
        return f"{self._base}/{self._maintenance_db}"
