"""Untrusted PDFs are opened and rendered in a child process with hard limits, never in-process.

A 4 KB PDF of nested form XObjects can make PDFium draw 10^9 objects and grow to tens of GB;
inside a server thread nothing can stop it (gunicorn's timeout does not, the worker's main thread
keeps heart-beating). So every PDFium call runs in a fresh child process that:

* has an address-space limit (``RLIMIT_AS`` = :attr:`RenderLimits.max_memory`) and a CPU-time
  limit (``RLIMIT_CPU`` = :attr:`RenderLimits.cpu_seconds`; the kernel kills it past that);
* is killed by the parent when the wall-clock deadline (:attr:`RenderLimits.timeout`) passes;
* receives the document as a temp file path and returns a small answer (JPEG bytes or an error)
  through a pipe, so nothing it does can corrupt the server process.

Children are forked from a small fork server (``python -m core.cas.render_sandbox``, started
on first use in each server process) that has PDFium and Pillow already imported: a fork costs
milliseconds, and forking the multi-threaded server itself would not be safe. The child also
arms a real-time alarm for the timeout whose default action ends it even inside PDFium, and the
parent stops waiting shortly after. One child per job, so each gets its own limits and nothing
leaks between documents. Answers are plain bytes or JSON, never pickle.
Per process at most :attr:`RenderLimits.concurrency` children run at once; a job waits at most
``timeout`` seconds for a slot (then :class:`core.errors.ServiceUnavailable` ``RENDER_BUSY``).
No lock is held while a child runs, so a bomb costs one slot for at most ``timeout`` seconds and
never blocks the other renders.

A job that runs out of any limit (or whose child dies for any other reason) raises
:class:`RenderLimitExceeded`; what to do then is the caller's decision (thumbnails fall back to
the generic PDF preview, upload validation refuses the file).

Raster images are not rendered here: Pillow's work is bounded by the pixel limit checked from the
image header before decoding (see :mod:`core.cas.thumbnails`), which a PDF has no equivalent of.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from core.errors import ServiceUnavailable, UnprocessableContent

log = logging.getLogger("partsbin.render")

#: Largest PDF page side accepted, in points (ISO 32000: 14,400 units = 200 inches).
PDF_MAX_PAGE_POINTS = 14_400.0
JPEG_QUALITY = 85
#: Longest side of the page rendering done by the upload check (:func:`check_pdf`).
CHECK_RENDER_SIZE = 64

Job = Literal["thumbnail", "check"]


@dataclass(frozen=True)
class RenderLimits:
    """Bounds of one sandboxed job (``Settings.render_*``; see README "Configuration")."""

    #: Wall-clock seconds a job may take, from the fork to the answer.
    timeout: float = 10.0
    #: Address-space limit of the child, in bytes.
    max_memory: int = 1024 * 1024 * 1024
    #: Jobs running at once in this process.
    concurrency: int = 2

    @property
    def cpu_seconds(self) -> int:
        """The child's CPU-time limit: the wall-clock timeout, rounded up."""
        return max(1, math.ceil(self.timeout))

    @classmethod
    def from_settings(cls, settings: Any) -> RenderLimits:
        """The limits of ``settings`` (:class:`core.config.Settings`)."""
        return cls(
            timeout=float(settings.render_timeout),
            max_memory=int(settings.render_max_memory),
            concurrency=int(settings.render_concurrency),
        )


def current_limits() -> RenderLimits:
    """The limits of the current Flask app's settings; the defaults outside an app context."""
    from flask import has_app_context

    if has_app_context():
        from core.state import get_state

        return RenderLimits.from_settings(get_state().settings)
    return RenderLimits()


class RenderLimitExceeded(Exception):
    """The job ran out of time, CPU or memory, or its child died.

    ``reason`` is ``"timeout"``, ``"cpu"``, ``"memory"`` or ``"crashed"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- what the parent observes (tests wait on it; logs count it) ---------------------------------


class _Running:
    """How many sandboxed jobs this process is running; ``changed`` is notified on each change."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.count = 0

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        with self.changed:
            self.count += 1
            self.changed.notify_all()
        try:
            yield
        finally:
            with self.changed:
                self.count -= 1
                self.changed.notify_all()


#: Jobs running now in this process (children alive).
RUNNING = _Running()

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_guard = threading.Lock()


def _slot(concurrency: int) -> threading.BoundedSemaphore:
    with _slots_guard:
        slot = _slots.get(concurrency)
        if slot is None:
            slot = _slots[concurrency] = threading.BoundedSemaphore(concurrency)
        return slot


class _ForkServer:
    """A helper process (``python -m core.cas.render_sandbox``) that forks one child per job.

    The helper is single-threaded and has PDFium and Pillow imported, so forking it is cheap and
    safe. Jobs are sent over a Unix socket with the answer socket's file descriptor attached;
    the child writes its answer there and exits. Started on first use in each process (gunicorn
    workers each get their own), restarted if it died.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner_pid = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def submit(self, request: dict[str, Any]) -> socket.socket:
        """Start a job; return the socket its answer arrives on (EOF when the child is gone)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            message = json.dumps(request).encode()
            with self._lock:
                for attempt in (1, 2):
                    control = self._ensure_running()
                    try:
                        socket.send_fds(control, [message], [theirs.fileno()])
                        break
                    except OSError:
                        self._stop()
                        if attempt == 2:
                            raise
        finally:
            theirs.close()
        return ours

    def _ensure_running(self) -> socket.socket:
        alive = self._process is not None and self._process.poll() is None
        if self._owner_pid == os.getpid() and alive and self._control is not None:
            return self._control
        self._stop()
        parent_end, helper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, env.get("PYTHONPATH", "")) if part
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "core.cas.render_sandbox", str(helper_end.fileno())],
            pass_fds=[helper_end.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        helper_end.close()
        self._control = parent_end
        self._owner_pid = os.getpid()
        return parent_end

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None and self._owner_pid == os.getpid():
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(5)
        self._process = None


_FORK_SERVER = _ForkServer()


# --- the parent side ----------------------------------------------------------------------------


def render_pdf_thumbnail(source: BinaryIO, size: int, limits: RenderLimits) -> bytes:
    """Render page 0 of the PDF ``source`` so its longest side is ``size``; return JPEG bytes.

    Raises :class:`core.errors.UnprocessableContent` (``IMAGE_UNREADABLE`` for a broken PDF or
    one without pages, ``IMAGE_TOO_LARGE`` for a page over 200 inches a side),
    :class:`RenderLimitExceeded`, or :class:`core.errors.ServiceUnavailable` ``RENDER_BUSY``.
    """
    return render_pdf_thumbnails(source, [size], size, limits)[size]


def render_pdf_thumbnails(
    source: BinaryIO, sizes: Collection[int], render_size: int, limits: RenderLimits
) -> dict[int, bytes]:
    """Rasterize page 0 of the PDF ``source`` once, with its longest side ``render_size``, and
    make a JPEG of each of ``sizes`` (none larger than ``render_size``) from it, all in one
    sandboxed child; return ``{size: JPEG bytes}``. Raises like :func:`render_pdf_thumbnail`."""
    wanted = sorted(set(sizes))
    if not wanted or wanted[-1] > render_size:
        raise ValueError(f"sizes {wanted} cannot be made from a {render_size} px rendering")
    answer = _run("thumbnail", source, render_size, limits, wanted)
    assert isinstance(answer, dict) and sorted(answer) == wanted
    return answer


def check_pdf(source: BinaryIO, limits: RenderLimits) -> None:
    """Open the PDF ``source``, check it has at least one page and render page 0 small
    (:data:`CHECK_RENDER_SIZE`), all within ``limits``.

    Raises :class:`core.errors.UnprocessableContent` ``CORRUPT_PDF`` if not,
    :class:`RenderLimitExceeded`, or :class:`core.errors.ServiceUnavailable` ``RENDER_BUSY``.
    """
    _run("check", source, 0, limits)


def _run(
    job: Job, source: BinaryIO, size: int, limits: RenderLimits, sizes: list[int] | None = None
) -> dict[int, bytes] | None:
    slot = _slot(limits.concurrency)
    if not slot.acquire(timeout=limits.timeout):
        raise ServiceUnavailable(
            "too many documents are being rendered right now; try again",
            {"concurrency": limits.concurrency},
            code="RENDER_BUSY",
        )
    try:
        with _source_file(source) as path:
            answer = _run_child(job, path, size, limits, sizes)
    finally:
        slot.release()
    kind = answer[0]
    if kind == "ok":
        return answer[1]
    if kind == "limit":
        raise RenderLimitExceeded(answer[1], f"the PDF needs more than its {answer[1]} limit")
    _, code, message, details = answer
    raise UnprocessableContent(message, details, code=code)


@contextlib.contextmanager
def _source_file(source: BinaryIO) -> Iterator[str]:
    """A path of ``source``'s bytes: its own, if it is a named file (a blob of the local
    driver), else a private temp copy."""
    name = getattr(source, "name", None)
    if isinstance(name, str) and os.path.isfile(name) and getattr(source, "mode", "") == "rb":
        yield name
        return
    folder = tempfile.mkdtemp(prefix="partsbin-render-")
    try:
        path = os.path.join(folder, "document.pdf")
        source.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
        source.seek(0)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_child(
    job: Job, path: str, size: int, limits: RenderLimits, sizes: list[int] | None
) -> tuple[Any, ...]:
    request = {
        "job": job,
        "path": path,
        "size": size,
        "sizes": sizes or [],
        "max_memory": limits.max_memory,
        "cpu_seconds": limits.cpu_seconds,
        "timeout": limits.timeout,
    }
    started = time.monotonic()
    with RUNNING.one():
        answer_socket = _FORK_SERVER.submit(request)
        try:
            answer = _read_answer(answer_socket, started + limits.timeout + _GRACE_SECONDS)
        finally:
            answer_socket.close()  # a child still running is killed by its own alarm
    if answer is not None:
        return answer
    elapsed = time.monotonic() - started
    reason = "timeout" if elapsed >= limits.timeout else "memory"
    log.warning("sandboxed PDF %s stopped: %s limit (%.1f s)", job, reason, elapsed)
    return ("limit", reason)


#: How long after the timeout the parent still waits for the child's own alarm to end it.
_GRACE_SECONDS = 1.0
#: Largest answer accepted from a child (a JPEG of at most 1000 px a side is far smaller).
_MAX_ANSWER_BYTES = 16 * 1024 * 1024


def _read_answer(sock: socket.socket, deadline: float) -> tuple[Any, ...] | None:
    """The child's answer, or ``None`` if it died without one or the deadline passed.

    The wire format is plain data, never pickle: a child that PDFium input took over must not be
    able to run code in the server. ``OK\n`` (a check passed), ``JPEGS\n<json>\n<bytes>`` (the
    JSON lists ``[size, length]`` of each JPEG, whose bytes follow in that order),
    ``ERR\n<json>`` or ``LIMIT\n<reason>``.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1024 * 1024)
        except (TimeoutError, OSError):
            return None
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > _MAX_ANSWER_BYTES:
            return None
    kind, _, body = b"".join(chunks).partition(b"\n")
    if kind == b"OK":
        return ("ok", None)
    if kind == b"JPEGS":
        return _jpegs(body)
    if kind == b"LIMIT":
        return ("limit", body.decode("ascii", "replace") or "memory")
    if kind == b"ERR":
        try:
            error = json.loads(body)
            return ("error", str(error["code"]), str(error["message"]), dict(error["details"]))
        except (ValueError, KeyError, TypeError):
            return None
    return None


def _jpegs(body: bytes) -> tuple[Any, ...] | None:
    header, _, data = body.partition(b"\n")
    try:
        parts = [(int(size), int(length)) for size, length in json.loads(header)]
    except (ValueError, TypeError):
        return None
    if any(length < 0 for _, length in parts) or sum(length for _, length in parts) != len(data):
        return None
    jpegs: dict[int, bytes] = {}
    offset = 0
    for size, length in parts:
        jpegs[size] = data[offset : offset + length]
        offset += length
    return ("ok", jpegs)


# --- the child side -----------------------------------------------------------------------------


def _serve(control: socket.socket) -> None:
    """The fork server's loop: fork a child for each job until the parent goes away."""
    # Imported once here, so that every child starts with them loaded.
    import PIL.Image  # noqa: F401
    import pypdfium2  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 64 * 1024, 1)
        except OSError:
            return
        if not message:
            return  # the server process closed its end (or died)
        if not fds:
            continue
        try:
            request = json.loads(message)
        except ValueError:
            os.close(fds[0])
            continue
        if os.fork() == 0:
            code = 1
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _child_main(fds[0], request)
                code = 0
            finally:
                os._exit(code)  # never back into the loop, whatever happened
        os.close(fds[0])


def _child_main(answer_fd: int, request: dict[str, Any]) -> None:
    """A forked child: set the limits, do the job, write one answer."""
    max_memory, cpu_seconds = int(request["max_memory"]), int(request["cpu_seconds"])
    _lower_limit(resource.RLIMIT_AS, max_memory, max_memory)
    _lower_limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the default action ends the process,
    signal.setitimer(signal.ITIMER_REAL, float(request["timeout"]))  # even inside PDFium
    job: Job = request["job"]
    try:
        sizes = [int(size) for size in request.get("sizes") or ()]
        jpegs = _do(job, str(request["path"]), int(request["size"]), sizes)
        if jpegs is None:
            answer = b"OK\n"
        else:
            header = json.dumps([[size, len(data)] for size, data in jpegs.items()]).encode()
            answer = b"JPEGS\n" + header + b"\n" + b"".join(jpegs.values())
    except UnprocessableContent as exc:
        answer = b"ERR\n" + _error_json(exc.code, exc.message, exc.details)
    except MemoryError:
        answer = b"LIMIT\nmemory"
    except Exception as exc:  # noqa: BLE001 - pdfium reports every failure as PdfiumError
        code = "CORRUPT_PDF" if job == "check" else "IMAGE_UNREADABLE"
        answer = b"ERR\n" + _error_json(
            code, _unreadable_message(job, exc), {"content_type": "application/pdf"}
        )
    with socket.socket(fileno=answer_fd) as sock:
        sock.sendall(answer)


def _lower_limit(which: int, soft: int, hard: int) -> None:
    """Set a resource limit, never above the hard limit the process already has."""
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def _error_json(code: str, message: str, details: dict[str, Any]) -> bytes:
    return json.dumps({"code": code, "message": message, "details": details}).encode()


def _unreadable_message(job: Job, exc: BaseException) -> str:
    if job == "check":
        return f"file starts like a PDF but is not a readable PDF: {exc}"
    return "cannot make a thumbnail: the application/pdf file is truncated or corrupt"


def _do(job: Job, path: str, size: int, sizes: list[int]) -> dict[int, bytes] | None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path)
    try:
        if len(document) < 1:
            if job == "check":
                raise UnprocessableContent("PDF has no pages", code="CORRUPT_PDF")
            raise ValueError("no pages")
        if job == "check":
            # Render page 0 small too: a PDF that cannot render within the limits is refused
            # at upload rather than stored (a page over the size limit is not an error here).
            with contextlib.suppress(UnprocessableContent):
                _render_page(document[0], CHECK_RENDER_SIZE)
            return None
        page = _render_page(document[0], size)
        return {wanted: _jpeg(page, wanted, size) for wanted in sizes or [size]}
    finally:
        document.close()


def _jpeg(page: Any, size: int, rendered_size: int) -> bytes:
    """The page rendered at ``rendered_size`` (a PIL image) as a JPEG of longest side ``size``
    (the rendering itself when the two are equal)."""
    from PIL import Image

    if size < rendered_size:
        page = page.copy()
        page.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    page.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _render_page(page: Any, size: int) -> Any:
    """Rasterize ``page`` (closing it) with its longest side ``size``; return a PIL image."""
    try:
        width, height = page.get_size()
        if not (0 < width <= PDF_MAX_PAGE_POINTS and 0 < height <= PDF_MAX_PAGE_POINTS):
            raise UnprocessableContent(
                f"PDF page is {width:.0f}x{height:.0f} points; pages must be at most "
                f"{PDF_MAX_PAGE_POINTS:.0f} points a side",
                {"width": width, "height": height},
                code="IMAGE_TOO_LARGE",
            )
        bitmap = page.render(scale=size / max(width, height), may_draw_forms=False)
        try:
            return bitmap.to_pil().convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()


if __name__ == "__main__":  # the fork server: python -m core.cas.render_sandbox <control fd>
    _serve(socket.socket(fileno=int(sys.argv[1])))
