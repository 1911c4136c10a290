"""A throwaway OpenID Connect provider on 127.0.0.1 for the auth tests: the npm package
``oidc-provider`` run by node with the config in ``oidc_provider.mjs`` beside this file.

The package is installed once into a cache folder (``~/.cache/partsbin-test/``, or
``$PARTSBIN_TEST_CACHE``) with ``npm install``; node 20 and npm must be on the machine. The
provider knows one confidential client and three users (``editor``, ``reader``, ``norole``),
logs them in through its development login form with any password, and grants consent itself.

Usage::

    with OidcProvider(redirect_uris=[...], logout_uris=[...]) as provider:
        provider.issuer, provider.client_id, provider.client_secret
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.testing.servers.process import (
    LOOPBACK,
    die_with_parent,
    free_ports,
    log_tail,
    stop_process,
    track,
    untrack,
)

PACKAGE = "oidc-provider"
VERSION = "9.13.3"
CONFIG = Path(__file__).with_name("oidc_provider.mjs")
START_TIMEOUT = 30.0
INSTALL_TIMEOUT = 600


class OidcProviderError(RuntimeError):
    """The provider could not be installed or started; the message says why (with its log)."""


def cache_dir() -> Path:
    base = os.environ.get("PARTSBIN_TEST_CACHE") or Path.home() / ".cache" / "partsbin-test"
    return Path(base) / f"{PACKAGE}-{VERSION}"


def ensure_installed() -> Path:
    """The folder holding ``node_modules/oidc-provider`` at :data:`VERSION`, installing it."""
    folder = cache_dir()
    marker = folder / "node_modules" / PACKAGE / "package.json"
    if marker.is_file():
        return folder
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise OidcProviderError("node and npm are needed to run the OIDC test provider")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=folder.parent))
    try:
        (staging / "package.json").write_text('{"private": true, "type": "module"}\n')
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"{PACKAGE}@{VERSION}"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise OidcProviderError(f"npm install {PACKAGE}@{VERSION} failed:\n{result.stderr}")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)  # atomic: a half-done install is never mistaken for a done one
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class OidcProvider:
    """A running provider; :meth:`start` / :meth:`stop` (or ``with``)."""

    client_id = "partsbin-test"
    public_client_id = "partsbin-test-public"

    def __init__(self, redirect_uris: Sequence[str], logout_uris: Sequence[str]) -> None:
        self.redirect_uris = list(redirect_uris)
        self.logout_uris = list(logout_uris)
        self.client_secret = secrets.token_urlsafe(24)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkdtemp(prefix="oidc-")) / "oidc.log"

    @property
    def issuer(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        folder = ensure_installed()
        script = folder / CONFIG.name
        shutil.copyfile(CONFIG, script)  # ESM resolves node_modules next to the script
        self.port = free_ports(1)[0]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "NODE_ENV": "test",
            "OIDC_PORT": str(self.port),
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            "OIDC_REDIRECT_URIS": ",".join(self.redirect_uris),
            "OIDC_LOGOUT_URIS": ",".join(self.logout_uris),
        }
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [shutil.which("node") or "node", str(script)],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )
        track(self)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.issuer}/.well-known/openid-configuration"
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise OidcProviderError(f"the OIDC provider exited:\n{log_tail(self._log)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise OidcProviderError(f"the OIDC provider did not start:\n{log_tail(self._log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, grace=5)
            self._process = None
        untrack(self)

    def __enter__(self) -> OidcProvider:
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()
