"""Tasks as a TRL ``GRPOTrainer`` training set, scored by :func:`goose.reward.trl_reward`.

TRL passes every dataset column other than ``prompt`` to reward functions as keyword
arguments, so ``trl_reward`` receives the ``answer`` column as ``answer=[...]`` (it ignores
the ``id`` and ``domain`` columns, which are there to trace rewards back to tasks)::

    from trl import GRPOConfig, GRPOTrainer
    import goose.reward
    from goose.export import read_tasks, to_trl

    trainer = GRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        reward_funcs=goose.reward.trl_reward,
        train_dataset=to_trl(read_tasks("out/tasks.parquet")),
        args=GRPOConfig(output_dir="grpo-goose"),
    )

>>> from goose.schema import tasks_to_table
>>> to_trl(tasks_to_table([])).column_names
['prompt', 'answer', 'id', 'domain']
"""

from __future__ import annotations

import datasets
import pyarrow as pa
from datasets.table import InMemoryTable

from goose.export.files import _as_task_schema
from goose.export.verl import _user_prompts


def to_trl(tasks: pa.Table) -> datasets.Dataset:
    """A conversational prompt-only dataset for TRL: ``prompt`` ([{"role": "user", "content":
    question}]), ``answer`` (the letter), ``id`` and ``domain``.

    Train with ``GRPOTrainer(..., reward_funcs=goose.reward.trl_reward, train_dataset=to_trl(tasks))``.

    >>> from goose.schema import tasks_to_table
    >>> from goose.task import Task
    >>> task = Task.build(domain="math", source_id="d1", passage="We have x = 2. So y = 4. Done.",
    ...     span=(15, 24), distractors=["So y = 5.", "So y = 9."], answer_index=1, seed=0)
    >>> ds = to_trl(tasks_to_table([task]))
    >>> ds[0]["prompt"][0]["role"], ds[0]["answer"]
    ('user', 'B')
    >>> from goose.reward import trl_reward
    >>> trl_reward(completions=["\\\\boxed{B}"], answer=ds["answer"])
    [1.0]
    """
    table = _as_task_schema(tasks).combine_chunks()
    columns = pa.table(
        {
            "prompt": _user_prompts(table.column("question").combine_chunks()),
            "answer": table.column("answer"),
            "id": table.column("id"),
            "domain": table.column("domain"),
        }
    )
    return datasets.Dataset(InMemoryTable(columns))
