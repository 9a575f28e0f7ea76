"""Pipeline and config checks that stop a run before any work."""

import pytest

from goose import Pipeline
from goose.adapters import FromQAPairs
from goose.config import RunConfig
from goose.operators import HeuristicMaskSpan, MinHashDedup, PrepareText, QualityFilter
from goose.pipeline import PipelineError


def test_one_stateful_object_in_two_steps_is_refused():
    dedup = MinHashDedup()
    with pytest.raises(ValueError, match="used twice"):
        Pipeline([PrepareText(), dedup, dedup])
    Pipeline([PrepareText(), MinHashDedup(), MinHashDedup()])  # two objects: fine


def test_rewriting_text_after_solution_start_is_refused():
    with pytest.raises(PipelineError, match="solution_start"):
        Pipeline([FromQAPairs(), QualityFilter(), HeuristicMaskSpan()]).check(["question", "solution"])
    Pipeline([FromQAPairs(), HeuristicMaskSpan()]).check(["question", "solution"])


@pytest.mark.parametrize("key", ["seed", "batch_size", "engine"])
def test_top_level_keys_in_preset_options_are_refused(key):
    with pytest.raises(ValueError, match="top-level keys"):
        RunConfig.model_validate({"input": "x.jsonl", "preset": "math", "preset_options": {key: 1}})


def test_a_step_before_the_one_that_makes_its_columns_is_named():
    from goose.operators import AssembleTasks

    with pytest.raises(PipelineError, match="wrong order; move HeuristicMaskSpan before AssembleTasks"):
        Pipeline([PrepareText(), AssembleTasks(), HeuristicMaskSpan()]).check(["text"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"operators": []}, "the list is empty"),
        ({"preset": "offline", "batch_size": True}, "valid integer"),
        ({"preset": "offline", "seed": "1"}, "valid integer"),
    ],
)
def test_configs_that_used_to_run_wrongly_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.model_validate({"input": "x.jsonl", **data})


def test_preset_values_are_checked_at_the_call():
    from pydantic import ValidationError

    from goose.presets import offline_pipeline

    with pytest.raises(ValidationError, match="num_options"):
        offline_pipeline(num_options=1)
    with pytest.raises(ValidationError, match="batch_size"):
        offline_pipeline(batch_size=True)
