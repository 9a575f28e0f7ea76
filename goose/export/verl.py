"""Tasks in verl's RL parquet layout, and a verl custom reward function that scores them.

One row per task, with the columns verl's ``RLHFDataset`` and reward managers read:

* ``data_source``: ``f"{data_source}/{domain}"``, e.g. ``"goose/math"``. verl groups its
  validation metrics by this column, so the domain in it gives per-domain curves;
  :func:`compute_score` scores every goose task the same way, whatever the value.
* ``prompt``: the chat ``[{"role": "user", "content": question}]``.
* ``ability``: the task domain.
* ``reward_model``: ``{"style": "rule", "ground_truth": <answer letter>}``.
* ``extra_info``: ``{"split", "index" (row number), "id", "source_id", "options"}``.

Point verl at :func:`compute_score` by module (``pkg://``; goose must be importable in
verl's workers) or by file path (this file imports goose with absolute imports only). The
keys moved in verl 0.7.1, and verl 0.9 no longer reads the old ones (it ignores them
silently, then fails at the first reward with "Reward function is not implemented for
data_source='goose/math'")::

    # verl >= 0.7.1
    reward.custom_reward_function.path=pkg://goose.export.verl
    reward.custom_reward_function.name=compute_score
    # verl <= 0.7.0
    custom_reward_function.path=pkg://goose.export.verl
    custom_reward_function.name=compute_score

With verl's batch reward manager (``reward_model.reward_manager=batch``, verl <= 0.7.0) use
``name=compute_score_batch``: it takes whole lists (:func:`compute_score_batch`).

>>> from goose.schema import tasks_to_table
>>> to_verl(tasks_to_table([])).schema == VERL_SCHEMA
True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from goose.export.files import _as_task_schema, _write_table_parquet
from goose.reward import score

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
"""Arrow type of one chat message."""

VERL_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(MESSAGE_TYPE)),
        ("ability", pa.string()),
        (
            "reward_model",
            pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
        ),
        (
            "extra_info",
            pa.struct(
                [
                    ("split", pa.string()),
                    ("index", pa.int64()),
                    ("id", pa.string()),
                    ("source_id", pa.string()),
                    ("options", pa.list_(pa.string())),
                ]
            ),
        ),
    ]
)
"""Arrow schema of :func:`to_verl`'s output."""


def _user_prompts(questions: pa.Array) -> pa.ListArray:
    """One single-message chat ``[{"role": "user", "content": q}]`` per question, without a Python loop."""
    questions = questions.cast(pa.string())
    count = len(questions)
    messages = pa.StructArray.from_arrays(
        [pa.repeat(pa.scalar("user", pa.string()), count), questions], fields=list(MESSAGE_TYPE)
    )
    offsets = pa.array(range(count + 1), pa.int32())
    return pa.ListArray.from_arrays(offsets, messages, type=pa.list_(MESSAGE_TYPE))


def _constant(value: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), count)


def to_verl(tasks: pa.Table, *, data_source: str = "goose", split: str = "train") -> pa.Table:
    """Convert a tasks table (:data:`goose.schema.TASK_SCHEMA`) to verl's RL layout (:data:`VERL_SCHEMA`).

    ``data_source`` is a prefix: each row gets ``f"{data_source}/{domain}"``. ``split`` goes
    into ``extra_info.split``; ``extra_info.index`` is the row number.

    >>> from goose.schema import tasks_to_table
    >>> from goose.task import Task
    >>> task = Task.build(domain="math", source_id="d1", passage="We have x = 2. So y = 4. Done.",
    ...     span=(15, 24), distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
    >>> row = to_verl(tasks_to_table([task])).to_pylist()[0]
    >>> row["data_source"], row["ability"], row["reward_model"]
    ('goose/math', 'math', {'style': 'rule', 'ground_truth': 'B'})
    >>> row["prompt"][0]["role"], row["extra_info"]["index"]
    ('user', 0)
    """
    table = _as_task_schema(tasks).combine_chunks()
    count = table.num_rows
    domains = table.column("domain").combine_chunks()
    reward_type = VERL_SCHEMA.field("reward_model").type
    extra_type = VERL_SCHEMA.field("extra_info").type
    columns = {
        "data_source": pc.binary_join_element_wise(_constant(data_source, count), domains, "/"),
        "prompt": _user_prompts(table.column("question").combine_chunks()),
        "ability": domains,
        "reward_model": pa.StructArray.from_arrays(
            [_constant("rule", count), table.column("answer").combine_chunks()], fields=list(reward_type)
        ),
        "extra_info": pa.StructArray.from_arrays(
            [
                _constant(split, count),
                pa.array(range(count), pa.int64()),
                table.column("id").combine_chunks(),
                table.column("source_id").combine_chunks(),
                table.column("options").combine_chunks(),
            ],
            fields=list(extra_type),
        ),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=VERL_SCHEMA)


def write_verl_parquet(tasks: pa.Table, path: str | Path, **kw: str) -> Path:
    """Write :func:`to_verl` of ``tasks`` to a Parquet file for verl's ``data.train_files``.

    Keyword arguments (``data_source``, ``split``) go to :func:`to_verl`. Parent folders are
    created; the same input gives byte-identical files. Returns the path written.

    >>> import tempfile
    >>> from goose.schema import tasks_to_table
    >>> path = write_verl_parquet(tasks_to_table([]), tempfile.mkdtemp() + "/verl/train.parquet", split="train")
    >>> path.name
    'train.parquet'
    """
    return _write_table_parquet(to_verl(tasks, **kw), path)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    """verl custom reward function: 1.0 when the completion's final answer is ``ground_truth``.

    Delegates to :func:`goose.reward.score`; ``data_source``, ``extra_info`` and any further
    keyword arguments verl passes are accepted and ignored. A ``ground_truth`` that is not
    one letter raises ValueError (the row is not a goose task). Use it with (verl >= 0.7.1;
    up to 0.7.0 drop the ``reward.`` prefix)::

        reward.custom_reward_function.path=pkg://goose.export.verl
        reward.custom_reward_function.name=compute_score

    >>> compute_score("goose/math", "So the answer is \\\\boxed{B}", "B")
    1.0
    >>> compute_score("goose/math", "\\\\boxed{C}", "B")
    0.0
    """
    return float(score(solution_str, ground_truth))


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[str],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[float]:
    """verl batch reward function: one :func:`compute_score` per completion, as a list.

    verl's ``BatchRewardManager`` (``reward_model.reward_manager=batch``) calls it once per
    batch with keyword arguments ``data_sources=``, ``solution_strs=``, ``ground_truths=``
    and ``extra_infos=`` and reads one score per row back. Raises ValueError when the lists
    differ in length. Use it with::

        custom_reward_function.path=pkg://goose.export.verl
        custom_reward_function.name=compute_score_batch

    >>> compute_score_batch(data_sources=["goose/math"] * 2, solution_strs=["\\\\boxed{B}", "Answer: A"],
    ...     ground_truths=["B", "B"], extra_infos=[{}, {}])
    [1.0, 0.0]
    """
    if not len(data_sources) == len(solution_strs) == len(ground_truths):
        raise ValueError(
            f"compute_score_batch got {len(data_sources)} data_sources, {len(solution_strs)} solution_strs "
            f"and {len(ground_truths)} ground_truths; pass one of each per completion"
        )
    return [float(score(solution, truth)) for solution, truth in zip(solution_strs, ground_truths)]
