"""Writing files so that nothing half-written is ever left behind.

Every artifact goes to a temporary file in the destination folder and is
renamed into place when complete (rename is atomic on one filesystem). A
``Staging`` folder collects a whole run's artifacts and moves them into the
output folder only when the run succeeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

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


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; artifacts get the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
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
        self.path = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.out if self.out.is_dir() else parent))
        return self

    def commit(self) -> list[Path]:
        """Move every staged file into ``out`` (each by an atomic rename)."""
        ensure_writable_dir(self.out)
        moved = []
        for src in sorted(self.path.rglob("*")):
            if src.is_file():
                dest = self.out / src.relative_to(self.path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest)
                moved.append(dest)
        self.committed = moved
        self.done = True
        return moved

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if not self.done:
            for d in self.created:
                try:
                    d.rmdir()
                except OSError:
                    break
