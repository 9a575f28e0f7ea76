"""Read pipeline input in Arrow batches of bounded size from the shapes users have.

Accepted sources: a ``pyarrow.Table``, a ``datasets.Dataset`` or ``IterableDataset``, a
list of dicts, one or more paths, or a :class:`FileInput` / :class:`DatasetInput` (the
YAML ``input:`` section). A path is read through fsspec, so it may be local or a URL
(``s3://``, ``gs://``, ``hf://datasets/...``, ``https://``), a glob (``data/*.jsonl.gz``)
or a folder (its ``.parquet``/``.jsonl``/``.json`` files, sorted, subfolders included).
Files are ``.parquet`` (read one record batch at a time, never whole), ``.jsonl`` (one
object per line) or ``.json`` (one object per line, or one JSON array of objects, read
whole); JSON files may be compressed, the compression inferred from the name (``.gz``,
``.bz2``, ``.xz``, ``.zst`` with ``zstandard`` installed). Credentials come from fsspec's
usual places (environment variables, ``~/.aws``, ...) or ``storage_options``.

Rows that cannot be read (a line that is not JSON, bytes that are not UTF-8) are not lost:
they come back as :class:`ReadDrop` records (``source_id`` ``shard.jsonl.gz:LINE``) so the
pipeline can account for them. A path that cannot be read at all (a missing file, an empty
folder, a ``.csv``, a ``.parquet`` that is not Parquet) raises :class:`InputError`, whose
one-line message says what to do; :func:`check_input` finds those before a run starts.
:class:`Limited` keeps the first rows of any source (``goose run --limit N``).

A column whose rows mix strings with other values (text that is a list in some rows) is
read as strings, the other values as their JSON text; the field's metadata
(:data:`NOT_STRING_ROWS`) names those rows, so first steps reject them instead of taking
``'["a", "b"]'`` for text (see :func:`not_string_rows`).

>>> [batch.table.num_rows for batch in read_batches([{"text": "a"}] * 5, batch_size=2)]
[2, 2, 1]
>>> [batch.table.num_rows for batch in read_batches(Limited([{"text": "a"}] * 5, 3), batch_size=2)]
[2, 1]
"""

from __future__ import annotations

import io
import json
import lzma
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.utils import infer_compression
from pydantic import BaseModel, ConfigDict, Field

NOT_STRING_ROWS = b"goose.not_string_rows"
"""Field metadata key: JSON list of the rows of a mixed column whose value was not a string."""

INPUT_SUFFIXES = (".parquet", ".jsonl", ".json")
"""File name endings goose reads (JSON ones also with a compression ending)."""

COMPRESSION_SUFFIXES = {".gz": "", ".bz2": "", ".xz": "", ".zst": "zstandard"}
"""Compression endings of JSON files, with the package that reads each ("" : Python's own)."""

_GLOB_CHARACTERS = "*?["
_REMOTE_FOOTERS_COUNTED = 64  # count_rows reads at most this many remote Parquet footers
_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError)
try:
    from zstandard import ZstdError

    _DECOMPRESSION_ERRORS += (ZstdError,)
except ImportError:  # no zstandard: .zst files are refused before reading
    pass
_SAVED_DATASET_FILES = ("state.json", "dataset_dict.json")  # what datasets' save_to_disk leaves in a folder


class InputError(ValueError):
    """An input path that cannot be read at all; the message says what to do, in one line.

    >>> check_input_paths(["notes.csv"])
    Traceback (most recent call last):
    goose.pipeline.sources.InputError: input file notes.csv does not exist; check the path in your command or config
    """


class FileInput(BaseModel):
    """Input files: paths, URLs, globs or folders (see the module docstring), with the
    fsspec ``storage_options`` they need and an optional column renaming.

    ``columns`` maps goose's column names to the input's: ``{text: content}`` reads the
    input's ``content`` column as ``text``. ``storage_options`` go to fsspec (e.g.
    ``{endpoint_url: ..., anon: true}`` for S3); they are not part of the run fingerprint.

    >>> FileInput(path="s3://bucket/corpus/").paths
    ('s3://bucket/corpus/',)
    """

    model_config = ConfigDict(extra="forbid")

    path: Union[str, list[str]] = Field(description="A path, URL, glob or folder, or a list of them.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (credentials, endpoint).")
    columns: dict[str, str] = Field(default_factory=dict, description="goose column -> input column, e.g. {text: content}.")

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths as a tuple (one path given: a tuple of one)."""
        return (self.path,) if isinstance(self.path, str) else tuple(self.path)


class DatasetInput(BaseModel):
    """A Hugging Face ``datasets`` dataset: a Hub name (``HuggingFaceFW/fineweb-edu``), a
    local folder of data files (what ``datasets.load_dataset(folder)`` reads), or a folder
    written by ``Dataset.save_to_disk``. ``streaming`` reads it without a local copy (an
    ``IterableDataset``); ``columns`` renames as in :class:`FileInput`. The run fingerprint
    holds these settings, and for a local folder its files' sizes and modification times;
    for a Hub dataset pin ``revision`` so a resumed run reads the same data.

    >>> DatasetInput(dataset="HuggingFaceFW/fineweb-edu", config="sample-10BT", streaming=True).split
    'train'
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Hub name or local folder.")
    config: Union[str, None] = Field(None, description="The dataset's configuration (subset) name.")
    split: str = Field("train", description="The split to read.")
    streaming: bool = Field(False, description="Read as a stream (no download of the whole dataset first).")
    revision: Union[str, None] = Field(None, description="Hub branch, tag or commit; pin it for reproducible runs.")
    data_files: Union[str, list[str], dict[str, Union[str, list[str]]], None] = Field(
        None, description="Which files of the dataset to read (datasets' data_files)."
    )
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (credentials, endpoint).")
    columns: dict[str, str] = Field(default_factory=dict, description="goose column -> input column, e.g. {text: content}.")

    def data_file_patterns(self) -> list[str]:
        """Every path or glob ``data_files`` names, flattened.

        >>> DatasetInput(dataset="json", data_files={"train": ["a/*.jsonl", "b.jsonl"]}).data_file_patterns()
        ['a/*.jsonl', 'b.jsonl']
        """
        found = self.data_files
        values = found.values() if isinstance(found, dict) else [found] if found is not None else []
        return [pattern for value in values for pattern in ([value] if isinstance(value, str) else value)]

    def description(self) -> dict[str, Any]:
        """The settings that decide the rows (not ``storage_options``: they may hold secrets)."""
        return self.model_dump(exclude={"storage_options"})

    def load(self) -> Any:
        """The ``datasets.Dataset`` (or ``IterableDataset`` when streaming) of the split;
        a name or split that cannot be loaded raises :class:`InputError`."""
        import datasets

        try:
            if _saved_dataset(self.dataset):
                loaded = datasets.load_from_disk(self.dataset, storage_options=self.storage_options or None)
                if isinstance(loaded, datasets.DatasetDict):
                    loaded = loaded[self.split]
                return loaded.to_iterable_dataset() if self.streaming else loaded
            return datasets.load_dataset(self.dataset, self.config, split=self.split, streaming=self.streaming,
                                         revision=self.revision, data_files=self.data_files,
                                         storage_options=self.storage_options or None)
        except (OSError, ValueError, KeyError, ConnectionError) as error:
            detail = " ".join(str(error).split())[:300]
            raise InputError(f"cannot load dataset {self.dataset!r} (config {self.config!r}, split {self.split!r}): "
                             f"{detail}; check the name or path, config and split") from None


@dataclass(frozen=True)
class Limited:
    """The first ``rows`` input rows of ``source``; rows that cannot be read count too.

    >>> count_rows(Limited([{}] * 5, 2))
    2
    """

    source: Any
    rows: int


Source = Union[pa.Table, Sequence[dict], str, Path, Sequence[Union[str, Path]], FileInput, DatasetInput, Limited, Any]
"""Anything :func:`read_batches` accepts (``Any`` covers ``datasets.Dataset``)."""


@dataclass(frozen=True)
class ReadDrop:
    """An input row the reader could not turn into an Arrow row, with where it was.

    >>> ReadDrop("data.jsonl:3", "invalid_json", "Expecting value").reason
    'invalid_json'
    """

    source_id: str
    reason: str
    detail: str
    record: str = ""


@dataclass(frozen=True)
class SourceBatch:
    """One batch of readable rows plus the rows of the same stretch that could not be read."""

    table: pa.Table
    drops: list[ReadDrop] = field(default_factory=list)


@dataclass(frozen=True)
class InputFile:
    """One file to read: its fsspec filesystem and path there, how messages name it, and
    what a listing already said about it (``size``, ``ETag``, ...; may be empty)."""

    fs: Any
    path: str
    shown: str
    listed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file name, as ``source_id`` starts (``shard.jsonl.gz``)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def local(self) -> bool:
        """Whether the file is on this machine's file system."""
        return "file" in _protocols(self.fs)

    @property
    def compression(self) -> str | None:
        """fsspec's compression name for the file's ending, or None."""
        return infer_compression(self.name) if _compression_suffix(self.name) else None

    @property
    def suffix(self) -> str:
        """The type ending with any compression ending taken off (``.jsonl`` for ``a.jsonl.gz``)."""
        name = self.name.removesuffix(_compression_suffix(self.name))
        return Path(name).suffix

    def open(self) -> Any:
        """A binary file object, decompressed when the name says so (lines can be iterated)."""
        handle = self.fs.open(self.path, "rb", compression=self.compression)
        return io.BufferedReader(handle) if self.compression else handle

    def size(self) -> int:
        """Size in bytes (compressed size for compressed files)."""
        size = self.listed.get("size")
        return int(size) if size is not None else int(self.fs.size(self.path))

    def identity(self) -> dict[str, Any]:
        """What tells this file's content apart across processes without reading it: a
        local file's absolute path, size and modification time; a remote file's URL, size
        and version tag (ETag, generation, blob id or modification time, what the store has).

        >>> import goose
        >>> sorted(input_files([goose.sample_corpus_path()])[0].identity())
        ['bytes', 'mtime_ns', 'path']
        """
        if self.local:
            status = os.stat(self.path)
            return {"path": str(Path(self.path).resolve()), "bytes": status.st_size, "mtime_ns": status.st_mtime_ns}
        info = dict(self.listed) or self.fs.info(self.path)
        version = next((str(info[key]) for key in ("ETag", "etag", "generation", "blob_id", "md5Hash", "LastModified",
                                                   "last_modified", "mtime", "updated") if info.get(key) is not None), None)
        return {"path": self.shown, "bytes": info.get("size"), "version": version}


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _compression_suffix(name: str) -> str:
    suffix = Path(name).suffix
    return suffix if suffix in COMPRESSION_SUFFIXES else ""


def _readable_name(name: str) -> bool:
    return Path(name.removesuffix(_compression_suffix(name))).suffix in INPUT_SUFFIXES


def _saved_dataset(path: str) -> bool:
    """Whether ``path`` is a local folder written by ``datasets``' ``save_to_disk``."""
    return any(os.path.isfile(os.path.join(path, name)) for name in _SAVED_DATASET_FILES)


def count_rows(source: Source) -> int | None:
    """Number of input rows when cheap to know (tables, datasets, lists, Parquet), else None.

    >>> count_rows([{}, {}])
    2
    """
    if isinstance(source, Limited):
        inner = count_rows(source.source)
        return source.rows if inner is None else min(inner, source.rows)
    if isinstance(source, pa.Table):
        return source.num_rows
    if isinstance(source, DatasetInput):
        return None  # known once loaded; loading twice for a progress bar is not worth it
    files = source_files(source)
    if files is not None:
        remote = sum(not file.local for file in files)
        # Footers of many remote shards would cost a request each before the run starts: no total then.
        if files and all(file.suffix == ".parquet" for file in files) and remote <= _REMOTE_FOOTERS_COUNTED:
            total = 0
            for file in files:
                with _parquet(file) as parquet:
                    total += parquet.metadata.num_rows
            return total
        return None
    try:
        return len(source)
    except TypeError:
        return None


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

def read_batches(source: Source, batch_size: int) -> Iterator[SourceBatch]:
    """Yield the source in batches of at most ``batch_size`` rows.

    >>> next(read_batches(pa.table({"text": ["x"]}), 8)).table.column_names
    ['text']
    """
    _check_batch_size(batch_size)
    budget = _Budget(None)
    while isinstance(source, Limited):
        budget = _Budget(source.rows if budget.left is None else min(budget.left, source.rows))
        source = source.source
    batches = _read(source, batch_size, budget)
    columns = getattr(source, "columns", None) if isinstance(source, (FileInput, DatasetInput)) else None
    yield from (_renamed(batches, columns) if columns else batches)


@dataclass(frozen=True)
class FileReads:
    """A file source as one independent read per file, to run in any process (a Ray worker
    reads its own file, the driver only hands out the list): ``read(n)`` yields the batches
    of file ``n``. Batches never span two files, so the batches of ``read(0)``, ``read(1)``,
    ... in turn are :func:`read_batches` of the whole source, rejects of unreadable lines
    included. ``files`` hold their fsspec filesystem, which pickles with its options.

    >>> import goose
    >>> reads = file_reads(goose.sample_corpus_path(), 8)
    >>> len(reads.files), [batch.table.num_rows for batch in reads.read(0)][:2]
    (1, [8, 8])
    """

    files: tuple[InputFile, ...]
    batch_size: int
    columns: Mapping[str, str] = field(default_factory=dict)

    def read(self, ordinal: int) -> Iterator[SourceBatch]:
        """The batches of the ``ordinal``-th file, with the input's columns renamed."""
        batches = _read_file(self.files[ordinal], self.batch_size, _Budget(None))
        return _renamed(batches, self.columns) if self.columns else batches


def file_reads(source: Source, batch_size: int) -> FileReads | None:
    """The source as per-file reads, or None for a source that is not files (an in-memory
    table or list, a ``datasets`` dataset) or is :class:`Limited` (its budget spans files).

    >>> file_reads([{"text": "a"}], 8) is None, file_reads(Limited("a.jsonl", 3), 8) is None
    (True, True)
    """
    _check_batch_size(batch_size)
    files = None if isinstance(source, Limited) else source_files(source)
    if files is None:
        return None
    return FileReads(tuple(files), batch_size, dict(source.columns) if isinstance(source, FileInput) else {})


def _read(source: Source, batch_size: int, budget: _Budget) -> Iterator[SourceBatch]:
    if isinstance(source, pa.Table):
        for table in budget.tables(pa.Table.from_batches([b], source.schema) for b in source.to_batches(batch_size)):
            yield SourceBatch(table)
        return
    if isinstance(source, DatasetInput):
        source = source.load()
    files = source_files(source)
    if files is not None:
        for file in files:
            if budget.spent:
                return
            yield from _read_file(file, batch_size, budget)
        return
    if _is_hf_dataset(source):
        for table in budget.tables(source.with_format("arrow").iter(batch_size=batch_size)):
            yield SourceBatch(table)
        return
    if isinstance(source, Sequence):
        yield from _rows_to_batches(budget.rows((f"row:{i}", row) for i, row in enumerate(source)), batch_size)
        return
    raise TypeError(
        f"cannot read a {type(source).__name__}; pass a pyarrow.Table, a datasets.Dataset, "
        "a list of dicts, or paths to .parquet/.jsonl files"
    )


class _Budget:
    """How many input rows may still be read (None: no limit)."""

    def __init__(self, left: int | None) -> None:
        self.left = left

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0

    def rows(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` up to the budget, not pulling one more (a file is not read past it)."""
        return self._spend(items, lambda item, left: (item, 1))

    def tables(self, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """``tables`` up to the budget, the last one cut."""
        return self._spend(tables, lambda table, left: (table.slice(0, left), min(table.num_rows, left)))

    def _spend(self, items: Iterable[Any], cut: Callable[[Any, int], tuple[Any, int]]) -> Iterator[Any]:
        """``items`` while the budget lasts; ``cut(item, left)`` gives the item to yield and the rows it costs."""
        iterator = iter(items)
        try:
            while not self.spent:
                item = next(iterator, _END)
                if item is _END:
                    return
                if self.left is not None:
                    item, cost = cut(item, self.left)
                    self.left -= cost
                yield item
        finally:
            _close(iterator)


_END = object()


def _close(iterator: Iterator[Any]) -> None:
    """Close a generator stopped early, so the file it reads is closed now, not at garbage collection."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _renamed(batches: Iterable[SourceBatch], columns: Mapping[str, str]) -> Iterator[SourceBatch]:
    """Batches with input columns renamed to goose's (``columns``: goose name -> input name)."""
    wanted = {source: goose for goose, source in columns.items()}
    for batch in batches:
        names = batch.table.column_names
        if names:
            missing = sorted(source for source in wanted if source not in names)
            if missing:
                raise InputError(f"input.columns names {missing}, which the input does not have (it has "
                                 f"{names[:20]}); fix the mapping goose_name: input_name")
            clashing = sorted(goose for source, goose in wanted.items() if goose in names and goose not in wanted)
            if clashing:
                raise InputError(f"input.columns renames a column to {clashing}, which the input has already; "
                                 "map that column too (e.g. to another name) or drop the renaming")
        yield SourceBatch(batch.table.rename_columns([wanted.get(name, name) for name in names]), batch.drops)


def _is_hf_dataset(source: object) -> bool:
    return type(source).__module__.startswith("datasets.") and hasattr(source, "with_format")


def source_paths(source: object) -> list[str] | None:
    """The paths a source names (one path or a list of them) as given, or None for other sources.

    >>> source_paths("a.jsonl"), source_paths(["s3://b/x/"]), source_paths([{"text": "x"}])
    (['a.jsonl'], ['s3://b/x/'], None)
    """
    if isinstance(source, FileInput):
        return list(source.paths)
    if isinstance(source, (str, Path)):
        return [str(source)]
    if isinstance(source, Sequence) and source and all(isinstance(s, (str, Path)) for s in source):
        return [str(s) for s in source]
    return None


def source_files(source: object) -> list[InputFile] | None:
    """The files a path source (or :class:`FileInput`) names, globs and folders expanded;
    None for other sources. Raises :class:`InputError` for a path that names no file."""
    paths = source_paths(source)
    if paths is None:
        return None
    return input_files(paths, source.storage_options if isinstance(source, FileInput) else None)


def input_files(paths: Sequence[str | Path], storage_options: Mapping[str, Any] | None = None) -> list[InputFile]:
    """The files ``paths`` name: a file, a glob (its matches, sorted) or a folder (its
    readable files, sorted, subfolders included), each local or a URL fsspec knows.

    >>> import goose
    >>> [file.name for file in input_files([goose.sample_corpus_path()])]
    ['sample_corpus.jsonl']
    """
    found: list[InputFile] = []
    for given in map(str, paths):
        found.extend(_expand(given, dict(storage_options or {})))
    return found


def input_file(path: str | Path, storage_options: Mapping[str, Any] | None = None) -> InputFile:
    """One file by its exact path or URL, neither expanded nor checked (e.g. to take its identity).

    >>> input_file("memory://bucket/a.jsonl.gz").suffix
    '.jsonl'
    """
    fs, found = fsspec.core.url_to_fs(str(path), **dict(storage_options or {}))
    return InputFile(fs, found, str(path) if "file" in _protocols(fs) else fs.unstrip_protocol(found))


def _expand(given: str, options: dict[str, Any]) -> list[InputFile]:
    try:
        fs, path = fsspec.core.url_to_fs(given, **options)
    except ImportError as error:
        raise InputError(f"cannot read {given}: {' '.join(str(error).split())} (or pip install "
                         "'goose-rlvr[remote]')") from None
    except ValueError as error:  # an unknown protocol
        raise InputError(f"cannot read {given}: {error}; use a local path or an s3://, gs://, hf:// or https:// URL") from None
    local = "file" in _protocols(fs)
    shown = (lambda found: found) if local else fs.unstrip_protocol

    if any(char in given for char in _GLOB_CHARACTERS) and not fs.exists(path):
        matches = fs.glob(path, detail=True)
        files = [InputFile(fs, name, shown(name), info) for name, info in sorted(matches.items())
                 if info.get("type") != "directory" and _readable_name(name)]
        if not files:
            raise InputError(f"input {given} matches no .parquet, .jsonl or .json file; check the pattern")
        return files
    if fs.isfile(path):  # asked first: over https:// a folder test would download the file to look for links
        file = InputFile(fs, path, given)
        _check_type(file)
        return [file]
    if fs.isdir(path):
        if local and _saved_dataset(path):
            raise InputError(f"input {given} was written by datasets' save_to_disk; name it as 'input: {{dataset: "
                             f"{given}}}' in the config")
        listing = fs.find(path, detail=True)
        files = [InputFile(fs, name, shown(name), info) for name, info in sorted(listing.items())
                 if _readable_name(name) and not _hidden(name[len(path):])]
        if not files:
            raise InputError(f"input {given} is a folder without .parquet, .jsonl or .json files; put the files "
                             "there or name them (a path, a glob or a list of paths in YAML)")
        return files
    raise InputError(f"input file {given} does not exist; check the path in your command or config")


def _hidden(relative: str) -> bool:
    """Whether a path inside a folder is hidden (``.cache/...``, ``_SUCCESS``-like names)."""
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def _check_type(file: InputFile) -> None:
    suffix = _compression_suffix(file.name)
    if file.suffix not in INPUT_SUFFIXES:
        hint = " (convert it, e.g. pandas.read_csv(...).to_parquet(...))" if file.suffix.lower() in {".csv", ".tsv"} else ""
        raise InputError(f"cannot read {file.shown}: goose reads .parquet, .jsonl or .json files (JSON ones may end in "
                         f".gz, .bz2, .xz or .zst){hint}")
    if suffix and file.suffix == ".parquet":
        raise InputError(f"cannot read {file.shown}: a compressed .parquet file cannot be read in batches; Parquet "
                         f"compresses itself, so store it without {suffix}")
    if suffix and file.compression is None:
        raise InputError(f"cannot read {file.shown}: {suffix} files need the {COMPRESSION_SUFFIXES[suffix]} package "
                         f"(pip install {COMPRESSION_SUFFIXES[suffix]})")


def check_input_paths(paths: Sequence[str | Path], storage_options: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`InputError` for the first path goose cannot read: missing, a folder or
    glob without readable files, an unknown file type, or a local ``.parquet`` file that is
    empty or not Parquet (its footer is read; the rows are not).

    >>> import tempfile
    >>> check_input_paths([tempfile.mkdtemp()])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    goose.pipeline.sources.InputError: input ... is a folder without .parquet, .jsonl or .json files; put the files there or name them (a path, a glob or a list of paths in YAML)
    """
    for file in input_files(paths, storage_options):
        _check_type(file)
        if file.local and file.suffix == ".parquet":
            with _parquet(file):
                pass


def check_input(source: Source) -> None:
    """Raise :class:`InputError` if ``source`` (paths, a :class:`FileInput` or a
    :class:`DatasetInput`, possibly :class:`Limited`) cannot be read; other sources pass."""
    while isinstance(source, Limited):
        source = source.source
    if isinstance(source, DatasetInput):
        source.load()
        return
    paths = source_paths(source)
    if paths is not None:
        check_input_paths(paths, source.storage_options if isinstance(source, FileInput) else None)


@contextmanager
def _parquet(file: InputFile) -> Iterator[pq.ParquetFile]:
    """A Parquet file open for batch reads (a remote one through an fsspec file object,
    closed at the end); an empty or broken file raises :class:`InputError`."""
    handle = None if file.local else file.fs.open(file.path, "rb")
    try:
        try:
            parquet = pq.ParquetFile(file.path if handle is None else handle)
        except (pa.ArrowInvalid, OSError) as error:
            what = "is empty (0 bytes)" if file.size() == 0 else f"is not a readable Parquet file ({error})"
            raise InputError(f"input {file.shown} {what}; write it again with pyarrow/pandas, or use a .jsonl "
                             "file") from None
        yield parquet
    finally:
        if handle is not None:
            handle.close()


def _read_file(file: InputFile, batch_size: int, budget: _Budget) -> Iterator[SourceBatch]:
    _check_type(file)
    if file.suffix == ".parquet":
        with _parquet(file) as parquet:
            batches = (pa.Table.from_batches([batch]) for batch in parquet.iter_batches(batch_size=batch_size))
            for table in budget.tables(batches):
                yield SourceBatch(table)
    elif _holds_json_array(file):
        yield from _rows_to_batches(budget.rows(_json_array_rows(file)), batch_size)
    else:
        yield from _rows_to_batches(budget.rows(_jsonl_rows(file)), batch_size)


def _holds_json_array(file: InputFile) -> bool:
    """Whether a ``.json`` file starts with ``[`` (one JSON array, not JSON lines)."""
    if file.suffix != ".json":
        return False
    with file.open() as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"[")


def _json_array_rows(file: InputFile) -> Iterator[tuple[str, dict | ReadDrop]]:
    """The elements of a file holding one JSON array (read whole: for big inputs use JSONL)."""
    try:
        with file.open() as handle:
            rows = json.loads(handle.read().decode("utf-8").removeprefix("\ufeff"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InputError(f"input {file.shown} starts like a JSON array but cannot be parsed ({error}); fix it, or "
                         "write one JSON object per line (.jsonl)") from None
    for number, row in enumerate(rows):
        where = f"{file.name}[{number}]"
        if isinstance(row, dict):
            yield where, row
        else:
            yield where, ReadDrop(where, "not_an_object", f"array element is a {type(row).__name__}", repr(row)[:200])


def _jsonl_rows(file: InputFile) -> Iterator[tuple[str, dict | ReadDrop]]:
    number = 0
    try:
        with file.open() as handle:
            for number, raw in enumerate(handle, start=1):
                yield from _jsonl_row(f"{file.name}:{number}", raw)
    except _DECOMPRESSION_ERRORS as error:  # a truncated or corrupt .gz/.zst/.bz2, a connection lost for good
        raise InputError(f"input {file.shown} cannot be read after line {number} ({error}); fetch or write the file "
                         "again") from None


def _jsonl_row(where: str, raw: bytes) -> Iterator[tuple[str, dict | ReadDrop]]:
    if not raw.strip():
        return
    try:
        # A byte-order mark (Windows editors put one before the first line) is no content.
        line = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        yield where, ReadDrop(where, "invalid_utf8", str(error), raw[:200].decode("utf-8", "replace"))
        return
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        yield where, ReadDrop(where, "invalid_json", str(error), line[:200])
        return
    except RecursionError:  # e.g. [[[[...]]]] thousands deep: Python's parser gives up
        yield where, ReadDrop(where, "invalid_json", "JSON nested too deeply to parse", line[:200])
        return
    if not isinstance(row, dict):
        yield where, ReadDrop(where, "not_an_object", f"line holds a {type(row).__name__}", line[:200])
        return
    yield where, row


def _rows_to_batches(rows: Iterable[tuple[str, Any]], batch_size: int) -> Iterator[SourceBatch]:
    # Unreadable rows ride along with the next batch of readable ones. Unreadable rows
    # after the last readable one join the last batch (one batch is held back for that),
    # so operators never get a batch without columns just because the input ends badly.
    pending: list[dict] = []
    drops: list[ReadDrop] = []
    held: SourceBatch | None = None
    for where, row in rows:
        checked = row if isinstance(row, ReadDrop) else _check_row(where, row)
        if isinstance(checked, ReadDrop):
            drops.append(checked)
        else:
            pending.append(checked)
        if len(pending) == batch_size:
            if held is not None:
                yield held
            held = SourceBatch(_rows_to_table(pending), drops)
            pending, drops = [], []
    if held is not None and not pending:
        yield SourceBatch(held.table, held.drops + drops)
        return
    if held is not None:
        yield held
    if pending or drops:
        yield SourceBatch(_rows_to_table(pending), drops)


def _check_row(where: str, row: Any) -> dict | ReadDrop:
    if not isinstance(row, dict):
        return ReadDrop(where, "not_an_object", f"row is a {type(row).__name__}, expected a dict", repr(row)[:200])
    decoded = {}
    for key, value in row.items():
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError as error:
                return ReadDrop(where, "invalid_utf8", f"column {key!r}: {error}", repr(value[:200]))
        unencodable = _unencodable_text(value)
        if unencodable is not None:
            # JSON may spell a lone surrogate ("\\ud800"); no UTF-8 text (nor Arrow) can hold it.
            return ReadDrop(where, "invalid_utf8", f"column {key!r}: {unencodable}", repr(value)[:200])
        decoded[str(key)] = value
    return decoded


def _unencodable_text(value: Any) -> str | None:
    """Why ``value`` (a string, or strings nested in lists and dicts) cannot be UTF-8 text, or None.

    >>> _unencodable_text(["ok", {"k": "a" + chr(0xD800)}])[-22:], _unencodable_text({"k": ["fine"]})
    ('surrogates not allowed', None)
    """
    stack = [value]  # a stack, not recursion: a row may nest thousands of levels deep
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                return str(error)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _rows_to_table(rows: list[dict]) -> pa.Table:
    # pyarrow names columns after the first row only; take the union so no value is lost.
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    fields, arrays = [], []
    for name, values in columns.items():
        try:
            array = pa.array(values)
            fields.append(pa.field(name, array.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # Mixed value types (e.g. text that is a list in one row): keep every row as
            # JSON text, and name the rows that held no string so first steps can reject them.
            array = pa.array([_as_text(value) for value in values], type=pa.string())
            odd = [i for i, value in enumerate(values) if value is not None and not isinstance(value, str)]
            fields.append(pa.field(name, pa.string(), metadata={NOT_STRING_ROWS: json.dumps(odd).encode()}))
        arrays.append(array)
    if not arrays:
        return pa.table({"__empty__": pa.nulls(len(rows))}).drop_columns(["__empty__"])
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def not_string_rows(batch: pa.Table, column: str) -> frozenset[int]:
    """Rows of ``batch`` whose ``column`` value was read from a non-string (a list, a number)
    in a column that also holds strings (see the module docstring); empty when none.

    >>> batch = next(read_batches([{"text": "a"}, {"text": ["b", "c"]}], 8)).table
    >>> batch.column("text").to_pylist(), sorted(not_string_rows(batch, "text"))
    (['a', '["b", "c"]'], [1])
    """
    if column not in batch.column_names:
        return frozenset()
    metadata = batch.schema.field(column).metadata or {}
    marked = metadata.get(NOT_STRING_ROWS)
    return frozenset(json.loads(marked)) if marked else frozenset()


def column_values(batch: pa.Table, column: str) -> list[Any]:
    """The values of ``column`` as Python objects, the rows :func:`not_string_rows` names as
    the values they were read from (a list stays a list), so a text step sees no string there.

    >>> batch = next(read_batches([{"text": "a"}, {"text": ["b", "c"]}], 8)).table
    >>> column_values(batch, "text")
    ['a', ['b', 'c']]
    """
    values = batch.column(column).to_pylist()
    for index in not_string_rows(batch, column):
        values[index] = json.loads(values[index])
    return values


def without_read_marks(table: pa.Table) -> pa.Table:
    """``table`` without the reader's :data:`NOT_STRING_ROWS` marks (row numbers of the read
    batch, wrong once rows are dropped); other metadata stays.

    >>> batch = next(read_batches([{"n": 1}, {"n": "x"}], 8)).table
    >>> without_read_marks(batch).schema.field("n").metadata is None
    True
    """
    marked = [i for i, field in enumerate(table.schema) if NOT_STRING_ROWS in (field.metadata or {})]
    schema = table.schema
    for index in marked:
        field = schema.field(index)
        rest = {key: value for key, value in field.metadata.items() if key != NOT_STRING_ROWS}
        schema = schema.set(index, field.with_metadata(rest) if rest else field.remove_metadata())
    return table.cast(schema) if marked else table


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
