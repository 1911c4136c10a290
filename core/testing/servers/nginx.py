"""A throwaway nginx on 127.0.0.1, for tests that need a real reverse proxy.

The caller gives the ``http { }`` contents (upstreams, server blocks) as a function of the port
and the temp folder; this module wraps them in a main configuration whose every path (pid, error
log, access log, client-body and proxy temp folders) lies in that temp folder, which
:meth:`NginxServer.stop` deletes. nginx runs in the foreground (``daemon off``) as a child of the
test process, with one worker.

When ``/usr/sbin/nginx`` is missing and we are root, the Debian ``nginx`` package is installed once
(as :func:`core.testing.servers.postgres.ensure_bin_dir` does for PostgreSQL). When we are root the
workers run as root too, so they read exactly what the caller can (pytest's ``tmp_path`` is 0700);
the server listens on loopback only and lives for one test.

Usage::

    def http_block(port: int, folder: Path) -> str:
        return f"server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}"

    with NginxServer(http_block) as nginx:
        requests.get(nginx.url + "/")
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from core.testing.servers.process import (
    LOOPBACK,
    apt_install,
    can_apt_install,
    die_with_parent,
    free_ports,
    log_tail,
    stop_process,
    track,
    untrack,
)

_NGINX = "/usr/sbin/nginx"
_MIME_TYPES = "/etc/nginx/mime.types"
_install_lock = threading.Lock()
_install_attempted = False


class NginxServerError(RuntimeError):
    """nginx could not be installed, configured or started; the message includes its log tail."""


def find_nginx() -> Path | None:
    """Return the nginx binary (``/usr/sbin/nginx``, else one on PATH), or ``None``."""
    if Path(_NGINX).is_file():
        return Path(_NGINX)
    on_path = shutil.which("nginx")
    return Path(on_path) if on_path else None


def ensure_nginx() -> Path:
    """Return the nginx binary, installing the Debian package once if we are root."""
    global _install_attempted
    with _install_lock:
        found = find_nginx()
        if found is not None:
            return found
        if not can_apt_install() or _install_attempted:
            raise NginxServerError(
                "nginx is not installed (no /usr/sbin/nginx); install it with "
                "`apt-get install -y nginx`"
            )
        _install_attempted = True
        try:
            apt_install("nginx")
        except RuntimeError as exc:
            raise NginxServerError(str(exc)) from None
        found = find_nginx()
        if found is None:
            raise NginxServerError("installed nginx but still found no /usr/sbin/nginx")
        return found


def main_config(folder: Path, http_block: str) -> str:
    """The whole ``nginx.conf``: foreground, one worker, every path inside ``folder``.

    ``http_block`` is placed inside ``http { }``; an ``access_log`` it sets overrides the default
    ``folder/access.log``.
    """
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    mime = f"    include {_MIME_TYPES};\n" if Path(_MIME_TYPES).is_file() else ""
    return (
        "daemon off;\n"
        "master_process on;\n"
        "worker_processes 1;\n"
        f"{user}"
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log info;\n"
        "events {\n    worker_connections 512;\n}\n"
        "http {\n"
        f"{mime}"
        "    default_type application/octet-stream;\n"
        f"    access_log {folder}/access.log;\n"
        f"    client_body_temp_path {folder}/client_body;\n"
        f"    proxy_temp_path {folder}/proxy;\n"
        f"    fastcgi_temp_path {folder}/fastcgi;\n"
        f"    uwsgi_temp_path {folder}/uwsgi;\n"
        f"    scgi_temp_path {folder}/scgi;\n"
        f"{http_block}\n"
        "}\n"
    )


class NginxServer:
    """One nginx on a free loopback port, configured by ``http_block(port, folder)``.

    ``http_block`` returns the contents of the ``http { }`` block; it must make a server listen on
    ``127.0.0.1:<port>`` and may put logs or files in ``folder`` (the server's temp folder).
    :meth:`start` checks the configuration (``nginx -t``), starts nginx and waits until the port
    accepts connections; a port taken meanwhile is retried with another.
    """

    def __init__(
        self, http_block: Callable[[int, Path], str], *, startup_timeout: float = 15.0
    ) -> None:
        self.http_block = http_block
        self.startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._nginx: Path | None = None

    # --- what clients need ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise NginxServerError("the server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; valid once started."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def folder(self) -> Path:
        """The temp folder holding the configuration, logs and temp files."""
        if self._dir is None:
            raise NginxServerError("the server has not been started")
        return self._dir

    @property
    def config_path(self) -> Path:
        return self.folder / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.folder / "error.log"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # --- life cycle ----------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> NginxServer:
        """Start nginx and wait until it accepts connections; return ``self``.

        Raises :class:`NginxServerError` (with the error log tail) if the configuration is
        invalid or nginx does not listen within ``startup_timeout`` seconds.
        """
        if self._process is not None:
            raise NginxServerError("the server is already running")
        self._nginx = ensure_nginx()
        self._dir = Path(tempfile.mkdtemp(prefix="partsbin-nginx-"))
        track(self)
        try:
            for attempt in range(1, attempts + 1):
                (self._port,) = free_ports(1)
                http_block = self.http_block(self._port, self._dir)
                self.config_path.write_text(main_config(self._dir, http_block))
                self._check_config()
                try:
                    self._launch_and_wait()
                    return self
                except NginxServerError as exc:
                    if attempt == attempts or "Address already in use" not in str(exc):
                        raise
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL) and delete the temp folder. Safe to call anytime."""
        try:
            if self._process is not None:
                stop_process(self._process, grace=5)
                self._process = None
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            untrack(self)

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        assert self._nginx is not None and self._dir is not None
        return [
            str(self._nginx),
            "-p",
            str(self._dir),
            "-e",
            str(self.error_log),
            "-c",
            str(self.config_path),
            *args,
        ]

    def _check_config(self) -> None:
        result = subprocess.run(
            self._command("-t", "-q"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise NginxServerError(
                f"nginx -t refused the configuration:\n{result.stderr}{result.stdout}\n"
                f"--- {self.config_path} ---\n{self.config_path.read_text()}"
            )

    def _launch_and_wait(self) -> None:
        assert self._dir is not None and self._port is not None
        if self._stderr is None:
            self._stderr = (self._dir / "stderr.log").open("ab")
        pid_file = self._dir / "nginx.pid"
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        self._process = subprocess.Popen(
            self._command(),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=die_with_parent(),
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise NginxServerError(
                    f"nginx exited with status {code}\n--- error log tail ---\n"
                    f"{log_tail(self.error_log)}\n{log_tail(self._dir / 'stderr.log')}"
                )
            # nginx writes its pid file after binding every listening socket.
            if _read_pid(pid_file) == self._process.pid:
                try:
                    with socket.create_connection((LOOPBACK, self._port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        stop_process(self._process, grace=5)
        self._process = None
        raise NginxServerError(
            f"nginx did not listen on {LOOPBACK}:{self._port} within {self.startup_timeout} s\n"
            f"--- error log tail ---\n{log_tail(self.error_log)}"
        )


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
