"""Compose an offline goose pipeline in Python, run it, and export the tasks for RL trainers.

Needs nothing but `pip install -e .`: no GPU, no API key, no download.

    python examples/compose_pipeline.py /tmp/goose-example
"""

from __future__ import annotations

import sys
from pathlib import Path

import goose
from goose.export import to_verl, write_jsonl, write_parquet, write_verl_parquet
from goose.operators import (
    AssembleTasks,
    CorpusDistractors,
    FilterDistractors,
    HeuristicMaskSpan,
    HtmlToText,
    PrepareText,
)


def main(out_dir: Path) -> None:
    pipeline = goose.Pipeline(
        [
            PrepareText(),
            HtmlToText(),
            HeuristicMaskSpan(max_units=3),
            CorpusDistractors(max_perturbations=2),
            FilterDistractors(min_distractors=5),
            AssembleTasks(num_options=6),
        ],
        seed=42,
        batch_size=48,
    )
    result = pipeline.run(goose.sample_corpus_path())
    print(result.summary())

    tasks = goose.table_to_tasks(result.tasks)  # every row validated as a goose.Task
    print(f"\n{len(tasks)} tasks; the first one:\n\n{tasks[0].question}\n\nanswer: {tasks[0].answer}")

    write_parquet(result.tasks, out_dir / "tasks.parquet")
    write_jsonl(result.tasks, out_dir / "tasks.jsonl")
    write_verl_parquet(result.tasks, out_dir / "verl_train.parquet")
    print(f"\nwrote {out_dir}/tasks.parquet, tasks.jsonl and verl_train.parquet "
          f"({to_verl(result.tasks).num_rows} verl rows)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "goose-example"))
