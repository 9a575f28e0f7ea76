"""Domain presets: each runs offline on its shipped sample through `goose run`, and each
builds the LLM chain (engine roles included) when given engines."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import goose
from goose.cli.main import main
from goose.config import ConfigError, RunConfig, load_config
from goose.engines import Engine, EngineConfig
from goose.engines.testing import ScriptedBackend
from goose.presets import code_pipeline, cyber_pipeline, math_pipeline, stem_pipeline
from goose.question import DOMAIN_INSTRUCTIONS
from goose.report import report_metrics

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "presets"
PRESETS = {"cyber": cyber_pipeline, "stem": stem_pipeline, "math": math_pipeline, "code": code_pipeline}


@pytest.fixture(scope="module", params=sorted(PRESETS))
def offline_run(request, tmp_path_factory):
    domain = request.param
    out = tmp_path_factory.mktemp(domain)
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / f"{domain}.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return domain, out


def test_example_config_runs_offline_and_accounts_for_every_row(offline_run):
    _, out = offline_run
    tasks = goose.table_to_tasks(pq.read_table(out / "tasks.parquet"))
    rejects = pq.read_table(out / "rejects.parquet")
    summary = json.loads((out / "summary.json").read_text())
    # 8-12 sample rows: the pool of on-topic wrong options is small, so ShortcutFilter keeps a few.
    assert len(tasks) >= 2 and all(len(task.options) == 9 for task in tasks)
    assert summary["rows_in"] + summary["rows_added"] == len(tasks) + rejects.num_rows and summary["accounted"] is True
    assert "engines" not in summary
    report = report_metrics(out)  # the report every run writes: its numbers must add up
    assert (out / "report.html").exists() and report["checks"]["ok"], report["checks"]["problems"]
    run = report["run"]
    assert run["rows_in"] + run["rows_added"] == run["tasks"] + run["rejects"] and run["rows_in"] == summary["rows_in"]


def test_every_task_carries_the_preset_domain_and_its_instruction(offline_run):
    domain, out = offline_run
    for task in goose.table_to_tasks(pq.read_table(out / "tasks.parquet")):
        assert task.domain == domain
        assert task.question.startswith(DOMAIN_INSTRUCTIONS[domain])


def test_cyber_routing_drops_the_off_topic_pages(offline_run):
    domain, out = offline_run
    if domain != "cyber":
        pytest.skip("cyber only")
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    off_topic = sorted(row["source_id"].rsplit("/", 1)[1] for row in rejects if row["reason"] == "no_domain_match")
    assert off_topic == ["pruning-tomato-plants", "sourdough-starter-basics"]


def test_offline_runs_are_byte_identical_for_the_same_seed(offline_run, tmp_path):
    domain, out = offline_run
    if domain != "math":
        pytest.skip("one preset is enough (each takes a few seconds)")
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "math.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tasks.parquet").read_bytes() == (out / "tasks.parquet").read_bytes()


def test_solution_presets_render_their_labels(offline_run):
    domain, out = offline_run
    label = {"cyber": "", "stem": "Question: ", "math": "Problem: ", "code": "Problem: "}[domain]
    for task in goose.table_to_tasks(pq.read_table(out / "tasks.parquet")):
        assert task.masked_text.startswith(label)


def _scripted() -> Engine:
    return Engine(ScriptedBackend(["{}"]))


LLM_STEPS = {
    "cyber": ["FromWebDocuments", "HtmlToText", "QualityFilter", "SplitPassages", "ExtractPassage", "MinHashDedup",
              "MaskReasoningSpan", "FilterDistractors", "SelectDistractors", "AssembleTasks", "ShortcutFilter",
              "MinHashDedup", "ProbeDifficulty"],
    "stem": ["FromQAPairs", "MinHashDedup", "MaskReasoningSpan", "FilterDistractors", "SelectDistractors",
             "AssembleTasks", "ShortcutFilter", "MinHashDedup", "ProbeDifficulty"],
    "math": ["FromQAPairs", "MinHashDedup", "MaskReasoningSpan", "FilterDistractors", "SelectDistractors",
             "AssembleTasks", "ShortcutFilter", "MinHashDedup", "ProbeDifficulty"],
    "code": ["FromCodeProblems", "MinHashDedup", "MaskReasoningSpan", "FilterDistractors", "SelectDistractors",
             "AssembleTasks", "ShortcutFilter", "MinHashDedup", "ProbeDifficulty"],
}


@pytest.mark.parametrize("domain", sorted(PRESETS))
def test_with_engines_the_preset_builds_the_llm_chain_and_roles(domain):
    engine, probe = _scripted(), _scripted()
    pipeline = PRESETS[domain](engine, probe_engine=probe, num_options=5)
    assert [op.name for op in pipeline.operators] == LLM_STEPS[domain]
    roles = {op.name: op.engine_roles() for op in pipeline.operators if op.engine_roles()}
    expected = {"MaskReasoningSpan": ("main",), "ProbeDifficulty": ("probe",)}
    if domain == "cyber":
        expected["ExtractPassage"] = ("main",)
    assert roles == expected
    assert pipeline.engine is engine and pipeline.engines == {"probe": probe}
    mask = pipeline.operators[[op.name for op in pipeline.operators].index("MaskReasoningSpan")]
    assert mask.min_distractors == 4 and mask.min_units == (3 if domain == "code" else 2)
    assert pipeline.operators[0].default_domain == ("general" if domain == "cyber" else domain)


@pytest.mark.parametrize("domain", sorted(PRESETS))
def test_one_engine_probes_on_the_main_role_and_options_add_steps(domain):
    pipeline = PRESETS[domain](_scripted(), probe_rollouts=8, judge_distractors=True, benchmarks={"b": ["some text"]})
    names = [op.name for op in pipeline.operators]
    assert names[names.index("FilterDistractors") + 1] == "JudgeDistractors"
    assert names[-2:] == ["Decontaminate", "ProbeDifficulty"]
    probe = pipeline.operators[-1]
    assert probe.engine_role == "main" and probe.rollouts == 8 and pipeline.engines == {}


def test_cyber_probes_16_rollouts_by_default_and_solution_presets_only_on_request():
    assert cyber_pipeline(_scripted()).operators[-1].rollouts == 16
    assert "ProbeDifficulty" not in [op.name for op in math_pipeline(_scripted()).operators]
    assert math_pipeline(_scripted(), probe_engine=_scripted()).operators[-1].rollouts == 16


def test_offline_variants_need_no_engine_and_refuse_llm_only_options():
    for build in PRESETS.values():
        pipeline = build()
        assert pipeline.engine is None and not any(op.engine_roles() for op in pipeline.operators)
    with pytest.raises(ValueError, match="offline variant has no probe"):
        stem_pipeline(probe_engine=_scripted())
    with pytest.raises(ValueError, match="judge_distractors needs an engine"):
        code_pipeline(judge_distractors=True)


def test_adapter_can_be_mapped_or_replaced():
    assert stem_pipeline(adapter={"question_column": "prompt"}).operators[0].question_column == "prompt"
    custom = goose.operators.FromPassages(default_domain="cyber")
    assert cyber_pipeline(adapter=custom).operators[0] is custom


def test_scripted_llm_run_of_the_math_preset_with_a_probe_engine():
    """The whole LLM chain on two sample pairs: the main engine masks, the probe answers."""
    reservoir = " ".join(f"Rule {i}: a quantity of {i * 7 + 3} units doubles every {i + 2} hours here." for i in range(80))

    def mask(request):
        passage = request.messages[-1]["content"].split("Passage:\n", 1)[1]
        solution = passage.split("Solution: ", 1)[1]
        sentences = solution.split(". ")
        gold = ". ".join(sentences[1:3]) + "."
        step = len(gold) + 5
        distractors = [reservoir[i * step: i * step + len(gold)].strip() for i in range(10)]
        return json.dumps({"removed_span": gold, "distractors": distractors})

    main_backend, probe_backend = ScriptedBackend(mask), ScriptedBackend(["\\boxed{Z}"])
    pipeline = math_pipeline(Engine(main_backend), probe_engine=Engine(probe_backend), probe_rollouts=4)
    # The scripted wrong options are off topic, which ShortcutFilter rightly drops; this test is about the chain.
    pipeline = goose.Pipeline([op for op in pipeline.operators if op.name != "ShortcutFilter"], seed=pipeline.seed,
                        batch_size=pipeline.batch_size, engine=pipeline.engine, engines=pipeline.engines)
    rows = [json.loads(line) for line in goose.presets.sample_data_path("qa_pairs").read_text().splitlines()[:2]]
    result = pipeline.run(rows)
    assert result.accounted and result.tasks.num_rows == 2, result.summary()
    assert len(main_backend.received) == 2 and len(probe_backend.received) == 2 * 4  # 4 option orders per task
    assert all(task.domain == "math" and task.lineage.probe_model == "scripted" for task in goose.table_to_tasks(result.tasks))


def _yaml(tmp_path, body: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"input: {EXAMPLES.parent.parent / 'goose/data/sample_qa_pairs.jsonl'}\n{body}", encoding="utf-8")
    return path


def test_config_passes_the_engine_and_the_probe_engine_to_the_preset(tmp_path, monkeypatch):
    built = []

    def fake_build(self, base=None):
        built.append(self.model)
        return Engine(ScriptedBackend(["{}"], model=self.model))

    monkeypatch.setattr(EngineConfig, "build", fake_build)
    config = load_config(_yaml(tmp_path, "preset: cyber\nengine: {backend: vllm, model: big}\n"
                                         "engines: {probe: {backend: vllm, model: small}}\n"))
    pipeline = config.build_pipeline(tmp_path)
    assert built == ["big", "small"]
    assert pipeline.engine.model == "big" and pipeline.engines["probe"].model == "small"
    assert pipeline.operators[-1].engine_role == "probe"
    built.clear()
    offline = load_config(_yaml(tmp_path, "preset: math\npreset_options: {num_options: 5}\n")).build_pipeline(tmp_path)
    assert built == [] and offline.engine is None and offline.operators[-4].num_options == 5


def test_config_errors_name_the_key_to_change(tmp_path):
    with pytest.raises(ConfigError, match="engines.probe"):
        load_config(_yaml(tmp_path, "preset: stem\nengines: {probe: {backend: vllm, model: m}}\n")).build_pipeline()
    with pytest.raises(ConfigError, match="preset_options of preset 'code'"):
        load_config(_yaml(tmp_path, "preset: code\npreset_options: {rollouts: 3}\n")).build_pipeline()
    with pytest.raises(ConfigError, match="question_colum"):
        load_config(_yaml(tmp_path, "preset: math\npreset_options: {adapter: {question_colum: x}}\n")).build_pipeline()
    with pytest.raises(ConfigError, match="num_options must be at least 2"):
        load_config(_yaml(tmp_path, "preset: math\npreset_options: {num_options: 1}\n")).build_pipeline()
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(_yaml(tmp_path, "preset: biology\n"))
    assert RunConfig.model_validate({"input": "x", "preset": "cyber"}).preset == "cyber"


def test_config_closes_the_engines_it_started_when_the_preset_fails(tmp_path, monkeypatch):
    started = []

    def fake_build(self, base=None):
        engine = Engine(ScriptedBackend(["{}"], model=self.model))
        started.append(engine)
        return engine

    closed = []
    monkeypatch.setattr(EngineConfig, "build", fake_build)
    monkeypatch.setattr(Engine, "close", lambda self: closed.append(self))
    config = load_config(_yaml(tmp_path, "preset: stem\npreset_options: {adapter: {bad_key: 1}}\n"
                                         "engine: {backend: vllm, model: big}\nengines: {probe: {backend: vllm, model: small}}\n"))
    with pytest.raises(ConfigError, match="bad_key"):
        config.build_pipeline(tmp_path)
    assert len(started) == 2 and closed == started
