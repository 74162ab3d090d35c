"""Writing files so that nothing half-written is ever left behind.

Every artifact goes to a temporary file in the destination folder and is
renamed into place when complete (rename is atomic on one filesystem). A
``Staging`` folder collects a whole run's artifacts and moves them into the
output folder only when the run succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from eegdeploy.errors import OutputError

TMP_PREFIX = ".eegdeploy-tmp-"


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check we can write there; one clear error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create output folder {str(path)!r} ({err.strerror or err})",
                          fix="choose another --out") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {str(path)!r} is not writable", fix="choose another --out or fix its permissions")
    return path


def nearest_existing(path: Path | str) -> Path:
    """``path`` itself or its closest ancestor that exists."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: Path | str, *, flag: str = "--out") -> Path:
    """Check that ``path`` (a file to be written later) can be written, without touching it.

    A temporary file is created and removed beside it; ``path`` itself, if it exists, is left
    byte-identical. Folders that do not exist yet are not created: the closest existing one is checked.
    Call this before any long work so a typo in ``--out`` fails in a second, not after training.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {str(path)!r} is a folder", fix=f"give a file name for {flag}")
    folder = nearest_existing(path.parent)
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: {str(folder)!r} is a file, not a folder",
                          fix=f"choose another {flag}")
    try:
        with signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
            os.close(fd)
            os.unlink(tmp)
    except OSError as err:
        raise OutputError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable "
                          f"({err.strerror or err})", fix=f"choose another {flag} or fix its permissions") from None
    return path


def check_writable_dir(path: Path | str, *, flag: str = "--out") -> Path:
    """Check that output folder ``path`` could be created or written, creating nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output path {str(path)!r} exists and is not a folder", fix=f"choose another {flag}")
    probe = path if path.is_dir() else path.parent
    folder = nearest_existing(probe)
    if not folder.is_dir():
        raise OutputError(f"cannot create output folder {str(path)!r}: {str(folder)!r} is a file",
                          fix=f"choose another {flag}")
    check_writable(folder / "probe", flag=flag)
    return path


class DiskFullError(OutputError):
    """The disk filled while writing; names the folder, the space needed (at least) and the space free."""

    def __init__(self, folder: Path, needed: int | None, free: int | None) -> None:
        self.folder, self.needed, self.free = folder, needed, free
        parts = ([f"needs at least {format_bytes(needed)}"] if needed else []) + \
                ([f"{format_bytes(free)} free"] if free is not None else [])
        detail = f" ({', '.join(parts)})" if parts else ""
        super().__init__(f"no space left on the device holding {str(folder)!r}{detail}; nothing was changed there",
                         fix="free some space or choose another --out")


def disk_full_error(folder: Path | str, needed: int | None = None) -> DiskFullError:
    """The one-line error for a full disk. A staging folder is reported as the folder the user named."""
    folder = nearest_existing(folder)
    while folder.name.startswith(TMP_PREFIX):
        folder = folder.parent
    try:
        free: int | None = shutil.disk_usage(folder).free
    except OSError:
        free = None
    return DiskFullError(folder, needed, free)


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def format_bytes(n: int | float) -> str:
    """Binary units, as in the reports: 1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, so a run of renames is never cut in half."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    tmp_path: Path | None = None
    try:
        with signals_deferred():  # a Ctrl-C lands before the file exists or after we hold its name
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or path.suffix, dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; artifacts get the usual permissions
        os.replace(tmp_path, path)
    except BaseException as err:
        written = _size(tmp_path) if tmp_path is not None and tmp_path.exists() else 0
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        if is_disk_full(err):
            raise disk_full_error(path.parent, written) from None
        raise


def write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: Path | str, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


class Staging:
    """A temporary folder beside ``out``; ``commit()`` moves its files into ``out``.

    Used by ``compress`` and ``export``: a run that fails or is interrupted never touches the output folder,
    previous artifacts there stay as they were, and folders the run created are removed again.

    >>> with Staging(Path("reports/run")) as stage:   # doctest: +SKIP
    ...     write_json(stage.path / "report.json", {...})
    ...     stage.commit()
    """

    def __init__(self, out: Path | str) -> None:
        self.out = Path(out)
        self.path: Path = Path()
        self.committed: list[Path] = []
        self.done = False
        self.created: list[Path] = []  # folders this run made (deepest first), removed again unless committed

    def __enter__(self) -> "Staging":
        parent = self.out.resolve().parent
        self.created = [d for d in (self.out.resolve(), *self.out.resolve().parents) if not d.exists()]
        ensure_writable_dir(parent)
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"output path {str(self.out)!r} exists and is not a folder", fix="choose another --out")
        if self.out.exists() and not os.access(self.out, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {str(self.out)!r} is not writable", fix="choose another --out or fix its permissions")
        # inside the output folder when it exists (its parent may not be writable), else beside it
        try:
            with signals_deferred():
                self.path = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.out if self.out.is_dir() else parent))
        except BaseException:
            if self.path != Path():
                shutil.rmtree(self.path, ignore_errors=True)
            remove_empty(self.created)
            raise
        return self

    def commit(self, replaces: Iterable[str] = ()) -> list[Path]:
        """Move every staged file into ``out`` (each by an atomic rename, with Ctrl-C/SIGTERM held meanwhile,
        so an interruption lands before the first rename or after the last).

        ``replaces``: file names (relative to ``out``) this kind of run may write. One left in ``out`` by an
        earlier run that this run did not write is removed, so the folder never mixes files of two runs (a stale
        slim.pt beside a new report)."""
        ensure_writable_dir(self.out)
        moved = []
        with signals_deferred():
            for src in sorted(self.path.rglob("*")):
                if src.is_file():
                    dest = self.out / src.relative_to(self.path)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dest)
                    moved.append(dest)
            for name in replaces:
                old = self.out / name
                if old not in moved and (old.is_file() or old.is_symlink()):
                    old.unlink()
        self.committed = moved
        self.done = True
        return moved

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        full = is_disk_full(exc) or isinstance(exc, DiskFullError)  # type: ignore[arg-type]
        staged = _size(self.path) if full and self.path.is_dir() else 0
        shutil.rmtree(self.path, ignore_errors=True)
        if not self.done:
            remove_empty(self.created)
        if full:  # the whole run's size so far, not only the file that did not fit
            raise disk_full_error(self.out, staged + (getattr(exc, "needed", 0) or 0)) from None


def remove_empty(folders: list[Path]) -> None:
    """Remove folders a failed run created (deepest first), stopping at the first that is not empty."""
    for d in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            break
