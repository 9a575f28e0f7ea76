"""The Ray Data executor on a local 2-CPU Ray: the same tasks, rejects, counters, engine usage
and checkpoints as the local executor, batch for batch; clear errors for missing or broken
engine factories; an operator's exception reaches the caller at its batch's turn."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import re
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra: pip install 'goose-rlvr[ray]'")
pytest.importorskip("ray.data", reason="the Ray executor needs Ray Data: pip install 'ray[data]'")

import goose
from goose import Pipeline
from goose.engines import BackendError, ChatRequest, Engine, RetryPolicy
from goose.engines.testing import ScriptedBackend
from goose.executors import LocalExecutor
from goose.executors.ray_data import (
    RayExecutor,
    RayExecutorConfig,
    RayExecutorError,
    StageResources,
)
from goose.operators import MinHashDedup, PrepareText, ProbeDifficulty, QualityFilter
from goose.pipeline import Operator, PipelineError, RowOutcomes, SourceBatch, read_batches, sources
from goose.pipeline.operator import RunContext
from goose.pipeline.sources import FileInput, ReadDrop, file_reads

ROOT = Path(goose.__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray's own settings, not ours


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (start-up costs seconds); its workers inherit PYTHONPATH,
    so they import this checkout of goose and this test module (for the operators and
    factories defined here)."""
    paths = [str(ROOT), str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


SINGLE_ACTORS = RayExecutorConfig(cpu=StageResources(num_cpus=0.3, max_actors=1),
                                  llm=StageResources(num_cpus=0.5, max_actors=1))
"""Fixed one-actor pools: fewer worker processes to start in the tests that need no parallelism."""


def run(executor, pipeline: Pipeline, source, *, index=lambda i: i):
    """Start the run's stateful steps, as the runner does, and collect every outcome."""
    for operator in pipeline.operators:
        operator.start_run()
    batches = ((index(i), batch) for i, batch in enumerate(read_batches(source, pipeline.batch_size)))
    return list(executor.run_batches(pipeline, batches))


def comparable(outcomes):
    """Everything an outcome reports except wall-clock seconds."""
    view = []
    for index, outcome in outcomes:
        stats = []
        for step in outcome.stats:
            engine = None if step.engine is None else {k: v for k, v in step.engine.as_dict().items() if k != "seconds"}
            stats.append((step.name, step.rows_in, step.rows_out, dict(step.drops), engine))
        view.append((index, outcome.kept.to_pylist(), outcome.rejects.to_pylist(), outcome.checkpoints, stats))
    return view


def test_offline_pipeline_matches_the_local_executor():
    local_pipeline, ray_pipeline = goose.offline_pipeline(batch_size=16), goose.offline_pipeline(batch_size=16)
    corpus = goose.sample_corpus_path()
    # The runner hands over only the batches still to do, so indices need not start at 0 or be contiguous.
    local = run(LocalExecutor(), local_pipeline, corpus, index=lambda i: 3 * i + 1)
    remote = run(RayExecutor(), ray_pipeline, corpus, index=lambda i: 3 * i + 1)
    assert len(local) == 3 and [i for i, _ in remote] == [1, 4, 7]
    assert comparable(remote) == comparable(local)
    tasks = pa.concat_tables([o.kept for _, o in remote])
    assert tasks.num_rows == sum(o.kept.num_rows for _, o in local) > 0
    assert all(name in outcome.checkpoints for _, outcome in remote for name in ("MinHashDedup", "AssembleTasks"))
    # The driver's stateful steps hold the run's state afterwards, as with the local executor.
    assert ray_pipeline.operators[-1].checkpoint() == local_pipeline.operators[-1].checkpoint()
    assembled = [op.name for op in local_pipeline.operators].index("AssembleTasks")
    assert ray_pipeline.operators[assembled]._built == local_pipeline.operators[assembled]._built > 0
    dedup = [i for i, op in enumerate(local_pipeline.operators) if op.name == "MinHashDedup"][0]
    ray_dedup, local_dedup = ray_pipeline.operators[dedup], local_pipeline.operators[dedup]
    assert len(ray_dedup._kept) == len(local_dedup._kept) > 0
    assert ray_dedup.checkpoint() == local_dedup.checkpoint()


# -- an LLM pipeline with an engine built on the workers ---------------------------------------


def student_answer(request: ChatRequest) -> str | BackendError:
    """A deterministic student: the letter depends on the question only; some requests fail."""
    digest = hashlib.sha256(request.messages[-1]["content"].encode()).digest()
    if digest[0] % 7 == 0:
        return BackendError("bad_request", "refused")
    return f"So the answer is \\boxed{{{'AB'[digest[1] % 2]}}}"


def build_student_engine() -> Engine:
    """The engine factory the Ray workers call (module level, so it pickles by reference)."""
    return Engine(ScriptedBackend(student_answer, model="student"), retry=RetryPolicy(max_attempts=1))


def corpus_with_copies() -> list[dict]:
    """The sample corpus plus near-copies of its first rows under new ids, for MinHashDedup."""
    rows = [row for batch in read_batches(goose.sample_corpus_path(), 64) for row in batch.table.to_pylist()]
    return rows + [{**row, "id": f"copy-{row['id']}", "text": row["text"] + " "} for row in rows[:4]]


def llm_pipeline(engine: Engine | None = None) -> Pipeline:
    offline = goose.offline_pipeline(batch_size=16, num_options=4)
    steps = [*offline.operators, ProbeDifficulty(rollouts=4, engine_role="probe")]
    return Pipeline(steps, batch_size=16, engines={"probe": engine} if engine else None)


def test_llm_pipeline_matches_the_local_executor_with_engine_usage():
    corpus = corpus_with_copies()
    with build_student_engine() as engine:
        local = run(LocalExecutor(), llm_pipeline(engine), corpus)
    executor = RayExecutor(SINGLE_ACTORS, engine_factories={"probe": build_student_engine})
    kinds = ["cpu", "stateful", "cpu", "stateful", "cpu", "stateful", "cpu", "llm"]
    assert [stage.kind for stage in executor.plan(llm_pipeline())] == kinds
    remote = run(executor, llm_pipeline(), corpus)
    assert len(remote) == 4
    assert comparable(remote) == comparable(local)
    probe_usage = [outcome.stats[-1].engine for _, outcome in remote]
    assert sum(usage.requests for usage in probe_usage if usage) > 0
    assert sum(usage.failures["bad_request"] for usage in probe_usage if usage) > 0
    reasons = {row["reason"] for _, outcome in remote for row in outcome.rejects.to_pylist()}
    assert {"near_duplicate", "engine_bad_request"} <= reasons


# -- clear errors -------------------------------------------------------------------------------


def test_a_missing_factory_is_refused_before_any_work():
    with build_student_engine() as engine, pytest.raises(RayExecutorError, match="cannot be sent to Ray workers.*engine"):
        run(RayExecutor(), llm_pipeline(engine), goose.sample_corpus_path())
    with pytest.raises(RayExecutorError, match="'probe' engine but RayExecutor has no factory"):
        run(RayExecutor(engine_factories={"main": build_student_engine}), llm_pipeline(), goose.sample_corpus_path())


def test_factories_that_cannot_work_are_refused():
    with pytest.raises(TypeError, match="EngineConfig or a function"):
        RayExecutor(engine_factories={"probe": "student"})
    lock = threading.Lock()
    with pytest.raises(RayExecutorError, match="cannot be sent to Ray workers"):
        run(RayExecutor(engine_factories={"probe": lambda: lock}), llm_pipeline(), goose.sample_corpus_path())


def broken_factory() -> Engine:
    raise OSError("model file /models/student.gguf not found")


def test_a_factory_failing_on_the_worker_names_the_role_and_the_cause():
    rows = [{"text": "one"}]
    steps = [PrepareText(), ProbeDifficulty(engine_role="probe")]
    with pytest.raises(RayExecutorError, match="building the 'probe' engine for ProbeDifficulty.*student.gguf not found"):
        run(RayExecutor(SINGLE_ACTORS, engine_factories={"probe": broken_factory}), Pipeline(steps), rows)


def test_stages_that_cannot_start_on_the_cluster_are_refused_at_once():
    config = RayExecutorConfig(cpu=StageResources(num_cpus=2))
    with pytest.raises(RayExecutorError, match="need 8.3 CPU to start.*cluster has 2"):
        run(RayExecutor(config), goose.offline_pipeline(), goose.sample_corpus_path())
    with pytest.raises(RayExecutorError, match="not steps of this pipeline"):
        RayExecutor(RayExecutorConfig(steps={"MaskReasoningSpan": StageResources()})).plan(goose.offline_pipeline())
    with pytest.raises(RayExecutorError, match="exactly one actor"):
        RayExecutor(RayExecutorConfig(steps={"MinHashDedup": StageResources(actors=2)})).plan(goose.offline_pipeline())


class Explode(Operator):
    """Fails on a batch holding the word 'explode'."""

    requires: ClassVar[tuple[str, ...]] = ("text",)

    def process(self, batch: pa.Table, context: RunContext):
        texts = batch.column("text").to_pylist()
        if "explode" in texts:
            raise ValueError("Explode met its word")
        outcomes = RowOutcomes(batch)
        for index in range(batch.num_rows):
            outcomes.keep(index)
        return outcomes.result()


def test_an_operator_error_reaches_the_caller_after_the_earlier_batches():
    rows = [{"text": "fine"}, {"text": "also fine"}, {"text": "explode"}, {"text": "never seen"}]
    outcomes = RayExecutor(SINGLE_ACTORS).run_batches(Pipeline([PrepareText(), Explode()], batch_size=2),
                                         enumerate(read_batches(rows, 2)))
    index, first = next(outcomes)
    assert index == 0 and first.kept.column("text").to_pylist() == ["fine", "also fine"]
    with pytest.raises(ValueError, match="Explode met its word") as caught:
        next(outcomes)
    assert any("step Explode on batch 1 in a Ray worker" in note for note in caught.value.__notes__)


def test_unreadable_rows_are_accounted_as_locally():
    """Read drops travel with their batch; a batch of unreadable rows only (no columns) passes every step."""
    readable = pa.table({"id": ["a", "b", "c"], "text": ["the first passage here", "The first passage here!", " "]})
    unreadable = [ReadDrop("input.jsonl:2", "invalid_json", "Expecting value"), ReadDrop("input.jsonl:3", "invalid_json", "")]
    batches = [(0, SourceBatch(pa.table({}), unreadable)), (1, SourceBatch(readable.slice(0, 2), unreadable[:1])),
               (2, SourceBatch(readable.slice(2)))]

    def outcomes(executor):
        pipeline = Pipeline([PrepareText(), MinHashDedup()])
        for operator in pipeline.operators:
            operator.start_run()
        return list(executor.run_batches(pipeline, batches))

    local, remote = outcomes(LocalExecutor()), outcomes(RayExecutor(SINGLE_ACTORS))
    assert comparable(remote) == comparable(local)
    reasons = [row["reason"] for _, outcome in remote for row in outcome.rejects.to_pylist()]
    assert sorted(reasons) == ["empty_text", "invalid_json", "invalid_json", "invalid_json", "near_duplicate"]


def test_no_batches_means_no_work():
    assert list(RayExecutor().run_batches(goose.offline_pipeline(), [])) == []


def test_a_stateful_stage_refuses_batches_out_of_order():
    """What catches a restarted actor (its state gone) or a batch run before its turn."""
    from goose.executors.ray_actors import BatchState, StageActor, StageSpec, to_row

    actor = StageActor(StageSpec(steps=[("MinHashDedup", MinHashDedup())], seed=0, labels=(), factories={},
                                 stateful=True))
    state = BatchState(7, pa.table({"text": ["some words here"]}), [], [], position=1)
    out = actor(to_row(state))
    error = pickle.loads(out.column("payload")[0].as_py()).error
    assert error is not None and "got batch 7 (number 1 of the run) where number 0 was due" in error.message


def test_goose_run_on_ray_writes_the_same_tasks_as_the_local_run(tmp_path):
    from click.testing import CliRunner

    from goose.cli.main import main

    config = Path(__file__).resolve().parents[1] / "examples" / "presets" / "code.yaml"
    runner = CliRunner()
    local = runner.invoke(main, ["run", str(config), "--out", str(tmp_path / "local")])
    on_ray = runner.invoke(main, ["run", str(config), "--out", str(tmp_path / "ray"), "--executor", "ray"])
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    assert (tmp_path / "ray" / "tasks.parquet").read_bytes() == (tmp_path / "local" / "tasks.parquet").read_bytes()
    assert (tmp_path / "ray" / "report.html").exists()


def test_run_to_directory_needs_no_driver_engine_when_the_workers_build_it(tmp_path):
    from goose.runner import MANIFEST_FILE, run_to_directory

    corpus = corpus_with_copies()
    with build_student_engine() as engine:
        local = run_to_directory(llm_pipeline(engine), corpus, tmp_path / "local", progress=False)
    executor = RayExecutor(SINGLE_ACTORS, engine_factories={"probe": build_student_engine})
    remote = run_to_directory(llm_pipeline(), corpus, tmp_path / "ray", progress=False, executor=executor)
    assert remote.tasks.equals(local.tasks) and remote.accounted
    manifest = (tmp_path / "ray" / MANIFEST_FILE).read_text()
    assert "build_student_engine" in manifest  # the workers' engine is part of the run's identity


def test_a_run_on_ray_resumes_after_lost_batches_to_the_same_output(tmp_path):
    """The input is a file, so the workers read it; the batches finished earlier are skipped there."""
    from goose.runner import run_to_directory

    def pipeline() -> Pipeline:
        return goose.offline_pipeline(batch_size=8, num_options=4)

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in corpus_with_copies()), encoding="utf-8")
    run_to_directory(pipeline(), corpus, tmp_path / "local", progress=False)
    run_to_directory(pipeline(), corpus, tmp_path / "ray", progress=False, executor=RayExecutor(SINGLE_ACTORS))
    files = ("tasks.parquet", "rejects.parquet")
    assert all((tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes() for f in files)
    for index in (3, 4, 5):  # what a crash leaves: these batches never got their done marker
        (tmp_path / "ray" / "shards" / f"{index:06d}.done.json").unlink()
    for name in (*files, "summary.json"):
        (tmp_path / "ray" / name).unlink()
    resumed = run_to_directory(pipeline(), corpus, tmp_path / "ray", progress=False, executor=RayExecutor(SINGLE_ACTORS))
    assert all((tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes() for f in files)
    assert resumed.accounted


# -- input read on the workers ------------------------------------------------------------------


def write_shards(folder: Path) -> list[str]:
    """The sample corpus over three files of three kinds, with unreadable lines in the JSONL ones."""
    rows = [row for batch in read_batches(goose.sample_corpus_path(), 64) for row in batch.table.to_pylist()]
    lines = [json.dumps(row) for row in rows[:20]]
    lines[3:3] = ["{not json", "", "[1, 2]"]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(row) for row in rows[20:30]) + "\n{\n")
    pq.write_table(pa.Table.from_pylist(rows[30:]), folder / "c.parquet")
    return [str(folder / name) for name in ("a.jsonl", "b.jsonl.gz", "c.parquet")]


def test_input_files_are_read_on_the_workers_with_the_local_outcomes(tmp_path, monkeypatch):
    paths = write_shards(tmp_path)
    read_in_driver = []
    real = sources._read_file
    monkeypatch.setattr(sources, "_read_file", lambda *args: read_in_driver.append(args[0].name) or real(*args))
    skip = {1, 3}  # finished by an earlier run: their rows must not be processed again
    pipeline = Pipeline([PrepareText(), QualityFilter()], batch_size=6)
    local = [(index, outcome) for index, outcome in run(LocalExecutor(), pipeline, paths) if index not in skip]
    assert read_in_driver == ["a.jsonl", "b.jsonl.gz", "c.parquet"]  # the driver's reads are seen here
    read_in_driver.clear()
    remote = list(RayExecutor(SINGLE_ACTORS).run_files(Pipeline([PrepareText(), QualityFilter()], batch_size=6),
                                                        file_reads(paths, 6), skip=skip))
    assert read_in_driver == []  # the workers read every file
    assert [index for index, _ in remote] == [index for index, _ in local] == [0, 2, 4, 5, 6, 7, 8]
    assert comparable(remote) == comparable(local)
    reasons = [row["reason"] for _, outcome in remote for row in outcome.rejects.to_pylist() if row["operator"] == "read"]
    assert sorted(reasons) == ["invalid_json", "invalid_json", "not_an_object"]


def test_a_pipeline_that_cannot_run_on_the_files_is_refused_at_the_first_batch(tmp_path):
    """The workers rename the columns (here 'text' to 'body') and check the pipeline on the first batch."""
    reads = file_reads(FileInput(path=write_shards(tmp_path), columns={"body": "text"}), 64)
    with pytest.raises(PipelineError, match=r"QualityFilter needs column\(s\) \['text'\].*columns \['body', 'domain', 'id'\]"):
        list(RayExecutor(SINGLE_ACTORS).run_files(Pipeline([QualityFilter()]), reads))


def test_files_in_s3_are_read_by_the_workers_from_the_server(tmp_path):
    """A real S3-compatible server (moto's, on 127.0.0.1): the read tasks fetch the objects themselves.
    The credentials go in storage_options, which travel with the file list (the workers were
    started before any AWS variable could be set here)."""
    s3fs = pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from s3_server import moto_s3

    with moto_s3() as url:
        options = {"endpoint_url": url, "key": "testing", "secret": "testing"}
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
        fs.mkdir("corpus")
        for path in write_shards(tmp_path):
            fs.put_file(path, f"corpus/shards/{Path(path).name}")
        source = FileInput(path="s3://corpus/shards/", storage_options=options)
        local = run(LocalExecutor(), Pipeline([PrepareText()], batch_size=8), source)
        remote = list(RayExecutor(SINGLE_ACTORS).run_files(Pipeline([PrepareText()], batch_size=8), file_reads(source, 8)))
    assert comparable(remote) == comparable(local) and len(remote) == 8


class Pause(Operator):
    """Keeps every row after a pause, so a run lasts past the progress bars' delay."""

    def process(self, batch: pa.Table, context: RunContext):
        time.sleep(0.6)
        outcomes = RowOutcomes(batch)
        for index in range(batch.num_rows):
            outcomes.keep(index)
        return outcomes.result()


@pytest.mark.parametrize("executor", [LocalExecutor(), RayExecutor(SINGLE_ACTORS)], ids=["local", "ray"])
def test_a_progress_bar_per_step_with_either_executor(executor, tmp_path, capsys, monkeypatch):
    from goose.pipeline.progress import StepProgress
    from goose.runner import run_to_directory

    pipeline = Pipeline([PrepareText(), QualityFilter(), Pause()], batch_size=16)
    monkeypatch.setattr(StepProgress.__init__, "__kwdefaults__",
                        {**StepProgress.__init__.__kwdefaults__, "stacked": True})  # as on a terminal
    result = run_to_directory(pipeline, goose.sample_corpus_path(), tmp_path, progress=True, executor=executor)
    bars = capsys.readouterr().err
    kept = result.stats[2].rows_out
    for step, rows in (("read", 48), ("PrepareText", 48), ("QualityFilter", kept), ("Pause", kept)):
        assert re.search(rf"{step}\s*: {rows}rows", bars), (step, bars[-2000:])


def test_progress_off_a_terminal_is_one_line_with_each_steps_count(tmp_path, capsys):
    """A log file or CI gets one bar, the steps' counts after it, and no cursor movement."""
    from goose.runner import run_to_directory

    pipeline = Pipeline([PrepareText(), QualityFilter(), Pause()], batch_size=16)
    result = run_to_directory(pipeline, goose.sample_corpus_path(), tmp_path, progress=True)
    bars = capsys.readouterr().err
    kept = result.stats[2].rows_out
    assert "\x1b" not in bars and re.search(r"goose: (48/48|48rows)", bars), bars[-2000:]
    assert f"PrepareText 48, QualityFilter {kept}, Pause {kept}" in bars, bars[-2000:]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
