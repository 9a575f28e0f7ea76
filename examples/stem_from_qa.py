"""STEM tasks from question + reference solution pairs, with the Python API.

Needs: `pip install -e .` only (offline by default: no GPU, no API key, no download).
With `--engine local` it needs the llama.cpp extra and a local GGUF model (see
goose.engines.EngineConfig); an LLM then picks the masked solution steps and writes the
distractors, and the same model probes difficulty (4 rollouts here, to stay quick).

    python examples/stem_from_qa.py /tmp/goose-stem
    python examples/stem_from_qa.py /tmp/goose-stem --engine local
"""

from __future__ import annotations

import argparse
from pathlib import Path

import goose
from goose.presets import sample_data_path, stem_pipeline
from goose.runner import run_to_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?", default=Path("goose-stem"))
    parser.add_argument("--input", type=Path, default=sample_data_path("qa_pairs"),
                        help="JSONL/Parquet with 'question' and 'solution' columns (default: the shipped sample)")
    parser.add_argument("--engine", choices=["none", "local"], default="none", help="LLM engine (default: offline)")
    args = parser.parse_args()

    engine = None
    if args.engine == "local":
        from goose.engines import EngineConfig

        engine = EngineConfig(backend="local", cache=str(args.out_dir / "responses.sqlite")).build()
    # Other column names? e.g. adapter={"question_column": "prompt", "solution_column": "response"}
    pipeline = stem_pipeline(
        engine,
        adapter={"question_column": "question", "solution_column": "solution"},
        probe_rollouts=4 if engine is not None else None,
        batch_size=16,
    )
    print("steps:", " -> ".join(op.name for op in pipeline.operators))
    try:
        result = run_to_directory(pipeline, args.input, args.out_dir)
    finally:
        if engine is not None:
            engine.close()
    print(result.summary())
    tasks = goose.table_to_tasks(result.tasks)
    if tasks:
        print(f"\nthe first of {len(tasks)} tasks:\n\n{tasks[0].question}\n\nanswer: {tasks[0].answer}")
    print(f"\nwrote {args.out_dir}/tasks.parquet, rejects.parquet and summary.json")


if __name__ == "__main__":
    main()
