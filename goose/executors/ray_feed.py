"""Stream a driver-side iterator into a Ray dataset with bounded memory.

The Ray executor reads its input on the workers where it can (files: see
:meth:`goose.executors.RayExecutor.run_files`); other inputs (in-memory tables and lists,
a ``datasets`` dataset, ``--limit N``) are read in the driver and handed over here.
:class:`Feed` turns such an iterator into a Ray dataset without putting all of it in the
object store first: a thread in the driver puts each encoded item in a bounded queue (a
Ray actor reserving no CPU), and the dataset's one read task, running on a worker, takes
the items from the queue in order and yields them as blocks. Items travel by value, not as
object references the driver would own: a long-running read task that borrowed references
would keep every object it was given pinned until it ends. When the stages fall behind,
Ray Data stops pulling from the read task, the queue fills, and the driver thread waits:
at most ``read_ahead`` items wait in the queue, whatever the input's size.

>>> import ray, pyarrow as pa
>>> ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)  # doctest: +ELLIPSIS, +SKIP
RayContext(...)
>>> feed = Feed(iter(range(3)), lambda item: pa.table({"n": [item]}), read_ahead=2)  # doctest: +SKIP
>>> dataset = ray.data.read_datasource(feed.datasource(), override_num_blocks=1, num_cpus=0)  # doctest: +SKIP
>>> feed.start(); [row["n"] for row in dataset.iter_rows()]  # doctest: +SKIP
[0, 1, 2]
>>> feed.finish(); feed.close()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Generic, TypeVar

import pyarrow as pa
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask
from ray.util.queue import Full, Queue

Item = TypeVar("Item")

_END = None
"""What the driver thread puts on the queue after the last item (or when it stops)."""


class Feed(Generic[Item]):
    """The driver's side: ``encode(item)`` makes each item's block.

    Call :meth:`start` once the dataset is built, read the dataset, then :meth:`finish`
    (raises what reading the input raised, after every earlier item went through) and, in
    any case, :meth:`close`.
    """

    def __init__(self, items: Iterator[Item], encode: Callable[[Item], pa.Table], read_ahead: int) -> None:
        self._items = items
        self._encode = encode
        self._queue = Queue(maxsize=read_ahead, actor_options={"num_cpus": 0})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="goose-ray-feed", daemon=True)
        self.error: BaseException | None = None

    def datasource(self) -> Datasource:
        """The dataset's source: one read task taking the items from the queue, in order."""
        return _QueueDatasource(self._queue)

    def start(self) -> None:
        """Start reading the items in a driver thread."""
        self._thread.start()

    def finish(self) -> None:
        """Wait for the thread and raise what reading the items raised, if anything (every
        item read before the error went through first)."""
        self._thread.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the thread (a consumer that stopped early) and remove the queue's actor."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._queue.shutdown()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((self._encode(item),)):
                    return
        except BaseException as error:  # noqa: BLE001 - raised by finish() in the driver's own thread
            self.error = error
        finally:
            self._put(_END)

    def _put(self, entry: Any) -> bool:
        """Put ``entry`` on the queue, waiting while it is full; False once the feed is closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.5)
            except Full:
                continue
            return True
        return False


class _QueueDatasource(Datasource):
    """One read task that yields the queue's items until the end mark."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        metadata = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
        return [ReadTask(partial(_read_queue, self._queue), metadata)]


def _read_queue(queue: Queue) -> Iterator[pa.Table]:
    while True:
        entry = queue.get()
        if entry is _END:
            return
        yield entry[0]
