"""Resumable runs (goose.runner): shards, manifest, fingerprint, and ``kill -9`` at several points.

In-process tests lose shards by hand (as a crash would) and check that the re-run's output
equals an uninterrupted run's, byte for byte. The kill tests run ``goose run`` in a child
process whose LLM step asks ``tests/openai_stub_server.py`` (a real HTTP server that counts
requests), SIGKILL it during the first batch, in the middle, and while merging, re-run the
same command, and check the output, the accounting and that no answered request is sent again.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from goose_child import LLM_CHAIN, kill_when
from llm_test_operator import Shout
from openai_stub_server import StubConfig, StubServer

import goose
from goose.cli.main import main
from goose.engines import BackendError, ChatRequest, Engine, RetryPolicy
from goose.engines.testing import ScriptedBackend
from goose.executors import LocalExecutor
from goose.operators import MinHashDedup, PrepareText
from goose.pipeline import Operator, RowOutcomes
from goose.pipeline.operator import BatchResult, RunContext
from goose.runner import (
    RunFolderError,
    TaskSchemaConflict,
    run_fingerprint,
    run_to_directory,
)

REPO = Path(__file__).parents[1]
BATCH = 8


def corpus_rows() -> list[dict]:
    """The sample corpus plus copies of its first rows at the end, so ``MinHashDedup`` must
    remember batch 0 when it reaches the last batch (after a resume: from the checkpoints)."""
    rows = [json.loads(line) for line in goose.sample_corpus_path().read_text(encoding="utf-8").splitlines() if line]
    return rows + [{**row, "id": f"{row['id']}-copy"} for row in rows[:4]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "corpus.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in corpus_rows()), encoding="utf-8")
    return path


def offline(seed: int = 0) -> goose.Pipeline:
    return goose.offline_pipeline(num_options=4, seed=seed, batch_size=BATCH)


def light() -> goose.Pipeline:
    """A quick pipeline for the tests about input identity and the CLI."""
    return goose.Pipeline([PrepareText(), MinHashDedup()], batch_size=BATCH)


def outputs(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "tasks.parquet").read_bytes(), (folder / "rejects.parquet").read_bytes()


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    result = run_to_directory(offline(), corpus, out, progress=False)
    assert result.accounted and result.rows_in == len(corpus_rows())
    assert "near_duplicate" in result.rejects.column("reason").to_pylist()
    return out


def lose(out: Path, batches: list[int], *, outputs_too: bool = True) -> None:
    """What a crash leaves: the named batches' markers never written, maybe no final files."""
    for index in batches:
        (out / "shards" / f"{index:06d}.done.json").unlink()
    if outputs_too:
        for name in ("tasks.parquet", "rejects.parquet", "summary.json"):
            (out / name).unlink()


# -- in-process: shards lost by hand ---------------------------------------------------------


def test_shards_and_manifest_are_written(reference: Path, corpus: Path) -> None:
    batches = -(-len(corpus_rows()) // BATCH)
    markers = sorted((reference / "shards").glob("*.done.json"))
    assert [path.name for path in markers] == [f"{i:06d}.done.json" for i in range(batches)]
    assert len(list((reference / "shards").glob("*.MinHashDedup.checkpoint"))) == batches
    fingerprint = json.loads((reference / "manifest.json").read_text())["fingerprint"]
    assert fingerprint["input"]["files"][0]["path"] == str(corpus.resolve())
    assert [step["step"] for step in fingerprint["steps"]][:5] == ["PrepareText", "HtmlToText", "QualityFilter",
                                                                  "SplitPassages", "MinHashDedup"]
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["batches"] == batches and summary["resumed_batches"] == 0
    assert summary["rows_in"] + summary["rows_added"] == summary["tasks"] + summary["rejects"] and summary["accounted"]


@pytest.mark.parametrize(
    ("lost", "resumed"),
    [([4, 5, 6], 4), ([0, 1, 2, 3, 4, 5, 6], 0), ([2], 2)],  # the last batches; all; a gap (later ones rerun)
    ids=["last-batches", "all", "gap"],
)
def test_rerun_after_lost_shards_equals_an_uninterrupted_run(reference, corpus, tmp_path, lost, resumed) -> None:
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    lose(tmp_path, lost)
    result = run_to_directory(offline(), corpus, tmp_path, progress=False)
    assert outputs(tmp_path) == outputs(reference)
    summary = json.loads((tmp_path / "summary.json").read_text())
    expected = json.loads((reference / "summary.json").read_text())
    assert summary["resumed_batches"] == resumed
    for key in ("rows_in", "tasks", "rejects", "accounted", "batches"):
        assert summary[key] == expected[key], key
    strip = [{k: v for k, v in step.items() if k != "seconds"} for step in expected["steps"]]
    assert [{k: v for k, v in step.items() if k != "seconds"} for step in summary["steps"]] == strip
    assert result.accounted


def test_half_written_shard_and_merge_leftovers_are_redone(reference, corpus, tmp_path) -> None:
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    lose(tmp_path, [6], outputs_too=False)
    (tmp_path / "shards" / "000006.tasks.parquet").write_bytes(b"PAR1 half a file")  # killed mid-shard
    (tmp_path / "tasks.parquet.partial").write_bytes(b"PAR1 half a merge")  # killed mid-merge
    (tmp_path / "summary.json").unlink()
    run_to_directory(offline(), corpus, tmp_path, progress=False)
    assert outputs(tmp_path) == outputs(reference)
    assert not list(tmp_path.rglob("*.partial"))


def test_another_run_in_the_folder_is_refused_until_overwrite(reference, corpus, tmp_path) -> None:
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    with pytest.raises(RunFolderError, match=r"holds another run \(different seed\); use a new output folder"):
        run_to_directory(offline(seed=1), corpus, tmp_path, progress=False)
    other_steps = goose.Pipeline([*offline().operators[:4], MinHashDedup(minhash={"threshold": 0.5}),
                                  *offline().operators[5:]], seed=1, batch_size=BATCH)
    with pytest.raises(RunFolderError, match=r"\(different seed, steps\)"):
        run_to_directory(other_steps, corpus, tmp_path, progress=False)
    (tmp_path / "responses.sqlite").write_bytes(b"an engine cache kept in the run folder")
    run_to_directory(light(), corpus, tmp_path, progress=False, overwrite=True)
    assert json.loads((tmp_path / "summary.json").read_text())["operators"] == ["PrepareText/1", "MinHashDedup/1"]
    assert len(list((tmp_path / "shards").glob("*.checkpoint"))) == 7  # the earlier run's files are gone
    assert (tmp_path / "responses.sqlite").exists()  # overwrite clears goose's files only


def test_in_memory_rows_resume_by_content(tmp_path) -> None:
    rows = corpus_rows()
    run_to_directory(light(), rows, tmp_path / "whole", progress=False)
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    lose(tmp_path / "cut", [5, 6])
    run_to_directory(light(), [dict(row) for row in rows], tmp_path / "cut", progress=False)  # an equal copy
    assert outputs(tmp_path / "cut") == outputs(tmp_path / "whole")
    assert json.loads((tmp_path / "cut" / "summary.json").read_text())["resumed_batches"] == 5
    changed = [*rows[:-1], {**rows[-1], "text": rows[-1]["text"] + " Changed."}]
    with pytest.raises(RunFolderError, match=r"\(different input\)"):
        run_to_directory(light(), changed, tmp_path / "cut", progress=False)
    run_to_directory(light(), pa.Table.from_pylist(rows), tmp_path / "table", progress=False)
    lose(tmp_path / "table", [6])
    run_to_directory(light(), pa.Table.from_pylist(rows), tmp_path / "table", progress=False)
    assert json.loads((tmp_path / "table" / "summary.json").read_text())["resumed_batches"] == 6


def test_cli_overwrite_flag_and_refusal(corpus, tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"input: {corpus}\nbatch_size: 8\noperators:\n  - PrepareText: {{}}\n", encoding="utf-8")
    run = ["run", str(config), "--out", str(tmp_path / "out")]
    assert CliRunner().invoke(main, run).exit_code == 0
    config.write_text(config.read_text() + "  - MinHashDedup: {}\n", encoding="utf-8")
    refused = CliRunner().invoke(main, run)
    assert refused.exit_code != 0 and "(different steps)" in refused.output and "--overwrite" in refused.output
    again = CliRunner().invoke(main, [*run, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["steps"][-1]["operator"] == "MinHashDedup"


class ShuffledExecutor:
    """Breaks the executor contract: yields the outcomes in reverse order."""

    def run_batches(self, pipeline, batches):
        return reversed(list(LocalExecutor().run_batches(pipeline, batches)))


class StoppingExecutor:
    """Breaks the executor contract: stops after two batches (having read all, or only those)."""

    def __init__(self, read_all: bool) -> None:
        self.read_all = read_all

    def run_batches(self, pipeline, batches):
        return islice(LocalExecutor().run_batches(pipeline, list(batches) if self.read_all else batches), 2)


def test_an_executor_breaking_its_contract_is_caught(corpus, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="yielded batch 6 where batch 0 was due"):
        run_to_directory(light(), corpus, tmp_path / "shuffled", progress=False, executor=ShuffledExecutor())
    for read_all in (True, False):
        with pytest.raises(RuntimeError, match="stopped before batch 2; an executor must yield"):
            run_to_directory(light(), corpus, tmp_path / "stopping", progress=False,
                             executor=StoppingExecutor(read_all), overwrite=True)
    run_to_directory(light(), corpus, tmp_path / "stopping", progress=False)  # resumes after the two batches
    summary = json.loads((tmp_path / "stopping" / "summary.json").read_text())
    assert summary["resumed_batches"] == 2 and summary["accounted"] and summary["batches"] == 7


# -- batches whose tables differ in columns: the merge keeps every column ---------------------


def same_rows(folder: Path, expected: pa.Table) -> None:
    """The merged tasks.parquet holds what ``Pipeline.run`` keeps: the same columns (names,
    types) and values, whatever order the columns come in. ``Pipeline.run`` also carries the
    columns of batches that lost every row before the last step (all null); the merge skips them."""
    merged = pq.read_table(folder / "tasks.parquet")
    assert set(merged.column_names) <= set(expected.column_names)
    left_out = [name for name in expected.column_names if name not in merged.column_names]
    assert all(expected.column(name).null_count == expected.num_rows for name in left_out), left_out
    expected = expected.select(merged.column_names)
    assert merged.schema.equals(expected.schema), (merged.schema, expected.schema)
    assert merged.to_pylist() == expected.to_pylist()


def test_struct_fields_of_later_batches_are_kept(tmp_path) -> None:
    rows = [{"text": f"Passage number {i}.", "meta": {"lang": "en"}} for i in range(2)]
    rows += [{"text": f"Passage number {i}.", "meta": {"lang": "de", "crawl": f"c{i}"}} for i in range(2, 4)]
    pipeline = goose.Pipeline([PrepareText()], batch_size=2)
    run_to_directory(pipeline, rows, tmp_path, progress=False)
    same_rows(tmp_path, pipeline.run(rows).tasks)
    metas = pq.read_table(tmp_path / "tasks.parquet").column("meta").to_pylist()
    assert metas == [{"lang": "en", "crawl": None}] * 2 + [{"lang": "de", "crawl": "c2"}, {"lang": "de", "crawl": "c3"}]


def test_a_later_batch_with_an_extra_column_or_a_wider_type_merges(tmp_path) -> None:
    rows = [{"text": f"Passage number {i}.", "score": i} for i in range(2)]
    rows += [{"text": f"Passage number {i}.", "score": i + 0.5, "note": "late"} for i in range(2, 4)]
    tables = [pa.Table.from_pylist(rows[:2]), pa.Table.from_pylist(rows[2:])]
    source = pa.concat_tables(tables, promote_options="permissive")  # score: double, note: null in batch 0
    pipeline = goose.Pipeline([PrepareText(), Retype()], batch_size=2)
    run_to_directory(pipeline, source, tmp_path, progress=False)
    expected = pipeline.run(source).tasks
    same_rows(tmp_path, expected)
    assert pq.read_table(tmp_path / "tasks.parquet").column("note").to_pylist() == [None, None, "late", "late"]
    again = run_to_directory(pipeline, source, tmp_path, progress=False)  # a rerun merges the same shards again
    assert again.tasks.to_pylist() == expected.to_pylist()


class Retype(Operator):
    """Gives batch 0 ``score`` as int64 without ``note`` and later batches ``score`` as double
    with ``note`` (as steps that infer types from their rows do); ``clash`` makes ``score`` a
    string in later batches instead, which no promotion merges with int64."""

    requires: ClassVar[tuple[str, ...]] = ("score",)
    clash: bool = False

    def process(self, batch: pa.Table, context: RunContext):
        scores = batch.column("score").to_pylist()
        first = all(score == int(score) for score in scores)
        if first:
            table = batch.drop_columns(["note"]).set_column(
                batch.schema.get_field_index("score"), "score", pa.array([int(s) for s in scores], pa.int64()))
        elif self.clash:
            table = batch.set_column(batch.schema.get_field_index("score"), "score",
                                     pa.array([str(s) for s in scores], pa.string()))
        else:
            table = batch
        return BatchResult(table, [])


def test_incompatible_types_stop_the_run_at_that_batch_with_a_clear_error(tmp_path) -> None:
    rows = [{"text": f"Passage number {i}.", "score": i + (0.5 if i >= 2 else 0), "note": "x"} for i in range(6)]
    pipeline = goose.Pipeline([PrepareText(), Retype(clash=True)], batch_size=2)
    message = r"column 'score' of the tasks is int64 in batch 0 but string in batch 1.*--overwrite"
    with pytest.raises(TaskSchemaConflict, match=message):
        run_to_directory(pipeline, rows, tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.done.json")) == ["000000.done.json"]
    with pytest.raises(TaskSchemaConflict, match=message):  # a rerun says the same, at once
        run_to_directory(pipeline, rows, tmp_path, progress=False)
    fixed = goose.Pipeline([PrepareText(), Retype()], batch_size=2)  # score: int64, then double
    run_to_directory(fixed, rows, tmp_path, progress=False, overwrite=True)
    assert pq.read_table(tmp_path / "tasks.parquet").column("score").type == pa.float64()


class Bucket(Operator):
    """A custom step after AssembleTasks: adds ``bucket`` (question length modulo 3)."""

    requires: ClassVar[tuple[str, ...]] = ("question",)
    produces: ClassVar[tuple[str, ...]] = ("bucket",)

    def process(self, batch: pa.Table, context: RunContext):
        outcomes = RowOutcomes(batch, types={"bucket": pa.int64()})
        for index, question in enumerate(batch.column("question").to_pylist()):
            outcomes.keep(index, bucket=len(question) % 3)
        return outcomes.result()


def test_a_custom_column_after_assemble_tasks_is_kept_after_the_task_columns(corpus, tmp_path) -> None:
    pipeline = goose.Pipeline([*offline().operators, Bucket()], batch_size=2)
    result = run_to_directory(pipeline, corpus, tmp_path, progress=False)
    merged = pq.read_table(tmp_path / "tasks.parquet")
    assert merged.num_rows > 0 and result.accounted
    assert merged.column_names[:3] == ["question", "options", "answer"] and merged.column_names[-1] == "bucket"
    same_rows(tmp_path, goose.Pipeline([*offline().operators, Bucket()], batch_size=2).run(corpus).tasks)


# -- rows dropped by transient engine failures: --retry-failed --------------------------------


ECHO_ROWS = [{"text": f"Passage {word} is about something else entirely."}
             for word in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")]


def echo_run(folder: Path, cache: Path, answer: Callable[[ChatRequest], str | BackendError], *, stateful: bool,
             retry_failed: bool = False) -> tuple[dict, list[str]]:
    """Run ``Shout`` (after ``MinHashDedup`` when ``stateful``) on ``ECHO_ROWS`` in batches of
    two; returns summary.json and the texts the back end was sent."""
    backend = ScriptedBackend(answer)  # the same back end name and model in every run: one fingerprint
    steps = [PrepareText(), *([MinHashDedup()] if stateful else []), Shout()]
    with Engine(backend, cache=cache, retry=RetryPolicy(max_attempts=1)) as engine:
        pipeline = goose.Pipeline(steps, batch_size=2, engine=engine)
        fingerprint = run_fingerprint(pipeline, ECHO_ROWS)
        run_to_directory(pipeline, ECHO_ROWS, folder, progress=False, retry_failed=retry_failed)
    assert json.loads((folder / "manifest.json").read_text())["fingerprint"] == fingerprint
    return json.loads((folder / "summary.json").read_text()), [r.messages[-1]["content"] for r in backend.received]


def works(request: ChatRequest) -> str:
    return request.messages[-1]["content"].upper()


def server_down(request: ChatRequest) -> BackendError:
    return BackendError("connection", "connection refused")


def test_a_run_with_the_server_down_is_finished_by_retry_failed(tmp_path) -> None:
    out, cache = tmp_path / "out", tmp_path / "responses.sqlite"
    summary, _ = echo_run(out, cache, server_down, stateful=False)
    assert summary["tasks"] == 0 and summary["transient_engine_drops"] == len(ECHO_ROWS)
    summary, sent = echo_run(out, cache, works, stateful=False)  # the server is up, but no flag: nothing to do
    assert summary["tasks"] == 0 and summary["resumed_batches"] == 3 and sent == []
    summary, sent = echo_run(out, cache, works, stateful=False, retry_failed=True)
    assert summary["tasks"] == len(ECHO_ROWS) and summary["rejects"] == 0 and summary["accounted"]
    assert summary["resumed_batches"] == 0 and summary["transient_engine_drops"] == 0
    assert len(sent) == len(ECHO_ROWS)
    assert pq.read_table(out / "tasks.parquet").column("loud").to_pylist() == [works(ChatRequest.user(r["text"]))
                                                                                for r in ECHO_ROWS]


@pytest.mark.parametrize(("stateful", "resumed"), [(False, 2), (True, 1)], ids=["stateless", "stateful"])
def test_retry_failed_redoes_the_failed_batches_and_resends_only_failed_requests(tmp_path, stateful, resumed) -> None:
    out, cache = tmp_path / "out", tmp_path / "responses.sqlite"
    flaky_text = ECHO_ROWS[2]["text"]  # batch 1 of 0..2

    def flaky(request: ChatRequest) -> str | BackendError:
        return BackendError("timeout", "no answer") if request.messages[-1]["content"] == flaky_text else works(request)

    summary, _ = echo_run(out, cache, flaky, stateful=stateful)
    assert summary["tasks"] == len(ECHO_ROWS) - 1 and summary["transient_engine_drops"] == 1
    summary, sent = echo_run(out, cache, works, stateful=stateful, retry_failed=True)
    # Stateless: only batch 1 again; stateful: batch 1 and every later one (the state after
    # batch 2 was built on the rows batch 1 lost). The cache answers all but the failed request.
    assert summary["resumed_batches"] == resumed and sent == [flaky_text]
    assert summary["tasks"] == len(ECHO_ROWS) and summary["transient_engine_drops"] == 0 and summary["accounted"]
    echo_run(tmp_path / "reference", tmp_path / "reference.sqlite", works, stateful=stateful)
    assert outputs(out) == outputs(tmp_path / "reference")


def test_retry_failed_redoes_lasting_failures_after_a_fix_and_nothing_else(tmp_path) -> None:
    """A request the server refused (HTTP 400: a server option, a model limit) is sent again by
    ``retry_failed`` once the setting is fixed; without the flag nothing is sent; the cache
    answers every other request of the redone batch."""
    out, cache = tmp_path / "out", tmp_path / "responses.sqlite"
    refused = ECHO_ROWS[0]["text"]

    def refusing(request: ChatRequest) -> str | BackendError:
        return BackendError("bad_request", "refused") if request.messages[-1]["content"] == refused else works(request)

    summary, _ = echo_run(out, cache, refusing, stateful=False)
    assert summary["transient_engine_drops"] == 0 and summary["rejects"] == 1
    assert summary["engine_failure_drops"] == {"engine_bad_request": 1}
    summary, sent = echo_run(out, cache, works, stateful=False)  # fixed, but no flag: nothing to do
    assert summary["resumed_batches"] == 3 and sent == []
    summary, sent = echo_run(out, cache, works, stateful=False, retry_failed=True)
    assert summary["resumed_batches"] == 2 and sent == [refused]
    assert summary["tasks"] == len(ECHO_ROWS) and summary["engine_failure_drops"] == {} and summary["accounted"]


def test_a_folder_whose_run_finished_no_batch_takes_another_run(tmp_path) -> None:
    """A run that stopped before its first batch finished (here: a column the step needs is
    missing) leaves nothing to resume, so the corrected run may use the same folder."""
    with pytest.raises(goose.pipeline.PipelineError):
        run_to_directory(goose.Pipeline([PrepareText(text_column="body")]), ECHO_ROWS, tmp_path, progress=False)
    assert (tmp_path / "manifest.json").exists()
    result = run_to_directory(goose.Pipeline([PrepareText()]), ECHO_ROWS, tmp_path, progress=False)
    assert result.tasks.num_rows == len(ECHO_ROWS)
    with pytest.raises(RunFolderError, match="holds another run"):  # a finished batch is worth keeping
        run_to_directory(goose.Pipeline([PrepareText(min_chars=2)]), ECHO_ROWS, tmp_path, progress=False)


def test_cli_retry_failed_flag_and_hint(stub, corpus, tmp_path) -> None:
    """``goose run`` against a server that answers every request with HTTP 500 says how many
    rows it lost that way and how to retry them; ``--retry-failed`` with the server well
    again gives the tasks of a run that never failed."""
    config = write_config(tmp_path, corpus, stub.url)
    config.write_text(config.read_text().replace("retry: {", "retry: {max_attempts: 1, "), encoding="utf-8")
    run = ["run", str(config), "--out", str(tmp_path / "out")]
    stub.reset(fault_rate=1.0, faults=["500"])
    failed = CliRunner().invoke(main, run)
    assert failed.exit_code == 1, failed.output  # no tasks, every row lost on the engine: a failed run
    lost = json.loads((tmp_path / "out" / "summary.json").read_text())["transient_engine_drops"]
    assert lost > 0 and f"{lost} rows were dropped for transient engine failures" in failed.output
    assert f"Error: no tasks: {lost} rows failed on the engine (engine_server_error {lost})" in failed.output
    assert "--retry-failed" in failed.output and "Traceback" not in failed.output
    stub.reset()
    unchanged = CliRunner().invoke(main, run)
    assert unchanged.exit_code == 1 and "--retry-failed" in unchanged.output and not stub.stats()["requests"]
    retried = CliRunner().invoke(main, [*run, "--retry-failed"])
    assert retried.exit_code == 0, retried.output
    assert "transient engine failures" not in retried.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["transient_engine_drops"] == 0 and summary["tasks"] > 0 and summary["accounted"]
    never_failed = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "reference")])
    assert never_failed.exit_code == 0, never_failed.output
    assert outputs(tmp_path / "out") == outputs(tmp_path / "reference")


# -- kill -9 of a real ``goose run`` whose LLM step calls an HTTP server ------------------------

# The child is ``goose run``; with "slow-merge" each shard read of the final merge waits a
# little, so the test can kill it while tasks.parquet is half merged.
DRIVER = """
import sys, time
import pyarrow.parquet as pq
if sys.argv[1] == "slow-merge":
    iter_batches = pq.ParquetFile.iter_batches
    def slow_iter_batches(*args, **kwargs):
        time.sleep(0.3)
        yield from iter_batches(*args, **kwargs)
    pq.ParquetFile.iter_batches = slow_iter_batches
from goose.cli.main import main
main(sys.argv[2:], prog_name="goose")
"""

ENGINE = """  backend: openai
  base_url: {url}
  model: stub
  cache: responses.sqlite
  retry: {{max_in_flight: 2, timeout: 10}}"""


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer(StubConfig(latency=0.02)) as server:
        yield server


def write_config(folder: Path, corpus: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "run.yaml"  # its engine cache lives next to it
    config.write_text(LLM_CHAIN.format(input=corpus, batch=BATCH, engine=ENGINE.format(url=url)), encoding="utf-8")
    return config


def run_in_process(config: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def llm_reference(stub, corpus, tmp_path_factory) -> tuple[Path, set[str]]:
    """An uninterrupted run, and the prompts it sent (each exactly once)."""
    stub.reset(latency=0.02)
    folder = tmp_path_factory.mktemp("llm-reference")
    run_in_process(write_config(folder, corpus, stub.url), folder / "out")
    sent = stub.stats()["per_prompt"]
    assert len(sent) >= 30 and set(sent.values()) == {1}
    return folder / "out", set(sent)


def shard_done(out: Path, index: int) -> Callable[[], bool]:
    return lambda: (out / "shards" / f"{index:06d}.done.json").exists()


KILL_POINTS: dict[str, tuple[str, Callable[[StubServer, Path], Callable[[], bool]]]] = {
    "first-batch": ("plain", lambda stub, out: lambda: stub.stats()["requests"] >= 3),
    "middle": ("plain", lambda stub, out: shard_done(out, 3)),
    "merge": ("slow-merge", lambda stub, out: lambda: (out / "tasks.parquet.partial").exists()),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_kill_9_then_rerun_finishes_with_no_lost_duplicated_or_repaid_work(
    point, stub, corpus, llm_reference, tmp_path
) -> None:
    reference_out, reference_prompts = llm_reference
    mode, make_condition = KILL_POINTS[point]
    config = write_config(tmp_path, corpus, stub.url)
    out = tmp_path / "out"
    stub.reset(latency=0.02)
    command = [sys.executable, "-c", DRIVER, mode, "run", str(config), "--out", str(out)]
    child = kill_when(command, make_condition(stub, out), what=f"the kill point {point}", timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()  # killed before the end
    sent_before_kill = set(stub.stats()["per_prompt"])
    cache = sqlite3.connect(tmp_path / "responses.sqlite")
    try:
        answered = cache.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        cache.close()
    finished = len(list((out / "shards").glob("*.done.json")))

    stub.reset(latency=0.0)
    run_in_process(config, out)  # the same command again
    sent_after = stub.stats()["per_prompt"]

    assert outputs(out) == outputs(reference_out)  # byte-identical tasks and rejects
    tasks = pq.read_table(out / "tasks.parquet")
    ids = tasks.column("id").to_pylist()
    assert len(ids) == len(set(ids)) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_in"] == len(corpus_rows()) and summary["accounted"]
    assert summary["rows_in"] + summary["rows_added"] == summary["tasks"] + summary["rejects"]
    assert summary["resumed_batches"] == finished
    # Only prompts with no stored answer are sent again, each once; none of the answered ones.
    assert set(sent_after.values()) <= {1} and set(sent_after) <= reference_prompts
    assert len(sent_after) == len(reference_prompts) - answered
    assert sent_before_kill | set(sent_after) == reference_prompts
    if point == "first-batch":
        assert finished <= 1 and answered < len(reference_prompts)
    if point == "middle":
        assert 4 <= finished < summary["batches"]
    if point == "merge":
        assert finished == summary["batches"] and not sent_after
