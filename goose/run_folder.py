"""Where a run folder lives: a local folder, or a prefix on object storage reached through fsspec.

:func:`goose.runner.run_to_directory` and :class:`goose.runner.RunOutput` read and write a
run folder only through the few calls of :class:`RunFolder`, named by paths relative to
the folder (``"shards/000003.done.json"``). Both kinds keep the rule the resume relies on:
a file is seen whole or not at all, so a marker written last commits its batch.

* :class:`LocalFolder`: a file is written to ``NAME.partial``, flushed to disk and renamed
  over ``NAME``; an advisory lock (``.goose.lock``, ``flock``) keeps a second process out.
* :class:`RemoteFolder` (``s3://``, ``gs://``, ``memory://``, ...): object stores have no
  rename, but one upload is atomic (an object appears whole or not at all; an unfinished
  multipart upload never shows as an object). A file is written to a local temporary file
  and uploaded with ``fs.put_file`` (large files in parts, inside the fsspec back end), so
  memory stays bounded. There is no lock: two processes must not write one remote folder
  at once.

>>> import tempfile
>>> folder = open_folder(tempfile.mkdtemp())
>>> folder.make_dir("shards")
>>> folder.write("shards/000000.done.json", lambda path: path.write_text("{}"))
>>> folder.names("shards"), folder.read_text("shards/000000.done.json")
(['000000.done.json'], '{}')
>>> remote = open_folder("memory://goose-doctest/run")
>>> remote.write("summary.json", lambda path: path.write_text("{}"))
>>> remote.is_file("summary.json"), remote.path("summary.json")
(True, 'memory://goose-doctest/run/summary.json')
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

PARTIAL = ".partial"
"""Suffix of a local file being written (renamed away when whole)."""
LOCK_FILE = ".goose.lock"


class RunFolder(Protocol):
    """The calls a run makes on its folder; names are relative paths with ``/``."""

    url: str
    """The folder as the user named it (a path or a URL), for messages."""
    remote: bool

    def path(self, name: str) -> Path | str:
        """``name`` as a local path, or a URL for a remote folder."""

    def is_file(self, name: str) -> bool: ...

    def is_dir(self, name: str) -> bool: ...

    def names(self, folder: str) -> list[str]:
        """Names of the files directly in ``folder`` (none when it does not exist)."""

    def read_bytes(self, name: str) -> bytes: ...

    def read_text(self, name: str) -> str: ...

    def write(self, name: str, write: Callable[[Path], object]) -> None:
        """``write(path)`` writes the whole file at a local ``path``; it then appears as
        ``name`` at once, or (after a crash) not at all."""

    def remove(self, names: Iterable[str]) -> None:
        """Remove these files; those that are not there are skipped."""

    def remove_tree(self, folder: str) -> None: ...

    def make_dir(self, folder: str) -> None: ...

    def sync(self, folder: str) -> None:
        """Make the renames in ``folder`` durable, where that means anything."""

    def parquet(self, name: str) -> pq.ParquetFile: ...

    def read_table(self, name: str) -> pa.Table: ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Keep other processes from writing the folder while held (or do nothing, see the module docstring)."""


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a folder through a protocol (``s3://b/run``) rather than a local path.

    >>> is_url("s3://bucket/run"), is_url("out/run"), is_url(Path("s3:"))
    (True, False, False)
    """
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def open_folder(location: str | Path | RunFolder, storage_options: dict[str, Any] | None = None) -> RunFolder:
    """The run folder at ``location``: a local path (or ``file://``), else an fsspec URL
    opened with ``storage_options`` (credentials, ``endpoint_url``; default: fsspec's own
    configuration, e.g. the usual AWS variables). A :class:`RunFolder` is returned as it is."""
    if not isinstance(location, (str, Path)):
        return location
    if not is_url(location):
        text = str(location)
        return LocalFolder(Path(text.removeprefix("file://")) if text.startswith("file://") else Path(location))
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(location), **(storage_options or {}))
    return RemoteFolder(fs, root.rstrip("/"), str(location).rstrip("/"))


class LocalFolder:
    """A run folder on the local disk (see the module docstring)."""

    remote = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def path(self, name: str) -> Path:
        return self.root / name

    def is_file(self, name: str) -> bool:
        return (self.root / name).is_file()

    def is_dir(self, name: str) -> bool:
        return (self.root / name).is_dir()

    def names(self, folder: str) -> list[str]:
        path = self.root / folder
        return [entry.name for entry in path.iterdir()] if path.is_dir() else []

    def read_bytes(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def read_text(self, name: str) -> str:
        return (self.root / name).read_text(encoding="utf-8")

    def write(self, name: str, write: Callable[[Path], object]) -> None:
        path = self.root / name
        partial = path.with_name(path.name + PARTIAL)
        write(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            (self.root / name).unlink(missing_ok=True)

    def remove_tree(self, folder: str) -> None:
        shutil.rmtree(self.root / folder, ignore_errors=True)

    def make_dir(self, folder: str) -> None:
        (self.root / folder).mkdir(parents=True, exist_ok=True)

    def sync(self, folder: str) -> None:
        with contextlib.suppress(OSError):
            handle = os.open(self.root / folder, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)

    def parquet(self, name: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.root / name)

    def read_table(self, name: str) -> pa.Table:
        return pq.read_table(self.root / name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An advisory lock on ``.goose.lock``: it dies with its process, also on ``kill -9``."""
        from goose.runner import RunFolderError  # here: the runner imports this module

        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            yield
            return
        with open(self.root / LOCK_FILE, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise RunFolderError(f"another goose run is writing to {self.root}; wait for it to end, or use "
                                     "another output folder (--out)") from error
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class RemoteFolder:
    """A run folder under a prefix of an fsspec filesystem (see the module docstring)."""

    remote = True

    def __init__(self, fs: Any, root: str, url: str) -> None:
        self.fs = fs
        self.root = root
        self.url = url

    def _full(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    def path(self, name: str) -> str:
        return f"{self.url}/{name}"

    def is_file(self, name: str) -> bool:
        self.fs.invalidate_cache(self._full(name))  # another process may have written it since
        return bool(self.fs.isfile(self._full(name)))

    def is_dir(self, name: str) -> bool:
        self.fs.invalidate_cache(self._full(name))
        return bool(self.fs.isdir(self._full(name)))

    def names(self, folder: str) -> list[str]:
        full = self._full(folder)
        self.fs.invalidate_cache(full)
        try:
            entries = self.fs.ls(full, detail=True)
        except FileNotFoundError:
            return []
        return [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in entries if entry.get("type") == "file"]

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self._full(name))

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def write(self, name: str, write: Callable[[Path], object]) -> None:
        with tempfile.TemporaryDirectory(prefix="goose-put-") as scratch:
            local = Path(scratch) / name.rsplit("/", 1)[-1]
            write(local)
            self.fs.put_file(str(local), self._full(name))

    def remove(self, names: Iterable[str]) -> None:
        present = [self._full(name) for name in names if self.is_file(name)]
        if present:
            self.fs.rm(present)

    def remove_tree(self, folder: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._full(folder), recursive=True)
        self.fs.invalidate_cache(self.root)

    def make_dir(self, folder: str) -> None:
        """Nothing: object stores have no folders, a prefix exists once an object is under it."""

    def sync(self, folder: str) -> None:
        """Nothing: an uploaded object is durable when the upload returns."""

    def parquet(self, name: str) -> pq.ParquetFile:
        return pq.ParquetFile(self._full(name), filesystem=self.fs)

    def read_table(self, name: str) -> pa.Table:
        return pq.read_table(self._full(name), filesystem=self.fs)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """No lock: object stores have no ``flock`` (see the module docstring)."""
        yield
