"""Read input files on Ray workers: a Ray Data datasource with one read task per file.

The driver lists the files (:func:`goose.pipeline.sources.file_reads`) and nothing else:
each read task runs goose's own reader for its file on a worker (fsspec: ``s3://``,
``gs://``, ``hf://``, local paths, ...), with the same batches and the same per-line
accounting of unreadable JSON lines as a read in the driver. Remote files are read on any
node; local ones on the driver's node, the one machine sure to have them. Each batch
leaves the task as one block, made by ``encode``; so does an error of the reader (after
the batches read before it), and the last file's task ends with ``encode(None)``, the
end-of-input mark. Ray Data streams the blocks to the first stage and, with
``preserve_order``, in file order, then batch order within a file: what the local executor
reads in turn.

>>> import goose, pyarrow as pa
>>> from goose.pipeline.sources import file_reads
>>> source = FileDatasource(file_reads(goose.sample_corpus_path(), 8), lambda item: pa.table({"end": [item is None]}))
>>> tasks = source.get_read_tasks(1)
>>> len(tasks), [block.column("end")[0].as_py() for block in tasks[0]()][-2:]
(1, [False, True])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pyarrow as pa
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from goose.pipeline.sources import FileReads, SourceBatch

Encode = Callable[[SourceBatch | BaseException | None], pa.Table]
"""Makes the block of a batch, of a reader's error, or (``None``) of the end of the input."""


class FileDatasource(Datasource):
    """One read task per input file, in file order (see the module docstring)."""

    def __init__(self, reads: FileReads, encode: Encode) -> None:
        super().__init__()
        self._reads = reads
        self._encode = encode

    @property
    def supports_distributed_reads(self) -> bool:
        """False when a file is local: Ray Data then runs every read task on the driver's
        node, the one machine sure to have the path."""
        return not any(file.local for file in self._reads.files)

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        files = self._reads.files
        tasks = []
        for ordinal, file in enumerate(files):
            size = file.listed.get("size")  # what a listing said; asking the store here would cost a request per file
            metadata = BlockMetadata(num_rows=None, size_bytes=None if size is None else int(size), exec_stats=None,
                                     input_files=(file.shown,))
            tasks.append(ReadTask(partial(_read_file, self._reads, ordinal, self._encode, ordinal == len(files) - 1),
                                  metadata))
        return tasks


def _read_file(reads: FileReads, ordinal: int, encode: Encode, last: bool) -> Iterator[pa.Table]:
    try:
        for batch in reads.read(ordinal):
            yield encode(batch)
    except Exception as error:  # noqa: BLE001 - travels in order, raised in the driver after the earlier batches
        yield encode(error)
        return
    if last:
        yield encode(None)
