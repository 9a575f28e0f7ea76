"""Cybersecurity tasks from raw web pages, with the Python API.

Needs: `pip install -e .` only (offline by default: no GPU, no API key, no download).
With `--engine local` it needs the llama.cpp extra and a local GGUF model (see
goose.engines.EngineConfig); the LLM chain then extracts passages, masks spans, writes
distractors and probes difficulty on that model.

    python examples/cyber_from_html.py /tmp/goose-cyber
    python examples/cyber_from_html.py /tmp/goose-cyber --engine local
"""

from __future__ import annotations

import argparse
from pathlib import Path

import goose
from goose.adapters import FromWebDocuments
from goose.presets import cyber_pipeline, sample_data_path
from goose.runner import run_to_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?", default=Path("goose-cyber"))
    parser.add_argument("--input", type=Path, default=sample_data_path("web_pages"),
                        help="JSONL/Parquet of web records with 'url' and 'html' (default: the shipped sample)")
    parser.add_argument("--engine", choices=["none", "local"], default="none", help="LLM engine (default: offline)")
    args = parser.parse_args()

    engine = None
    if args.engine == "local":
        from goose.engines import EngineConfig

        engine = EngineConfig(backend="local", cache=str(args.out_dir / "responses.sqlite")).build()
    # Your records name their columns differently? Map them here, e.g. html_column="content".
    adapter = FromWebDocuments(html_column="html", url_column="url", domain_column="", default_domain="general")
    pipeline = cyber_pipeline(engine, adapter=adapter, probe_rollouts=4, batch_size=16)
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
