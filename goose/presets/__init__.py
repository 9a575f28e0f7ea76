"""Ready pipelines: plain functions that return a :class:`goose.Pipeline` you can inspect and change.

* :func:`offline_pipeline`: the demo chain, any domain, no model;
* :func:`golden_goose_pipeline`: the paper's chain on an LLM engine, any domain;
* :func:`cyber_pipeline`, :func:`stem_pipeline`, :func:`math_pipeline`, :func:`code_pipeline`:
  one domain each, from that domain's usual input shape, offline or on an engine
  (see :mod:`goose.presets.domains`).
"""

from goose.presets.domains import (
    code_pipeline,
    cyber_pipeline,
    math_pipeline,
    sample_data_path,
    stem_pipeline,
)
from goose.presets.golden_goose import golden_goose_pipeline
from goose.presets.offline import offline_pipeline, sample_corpus_path

__all__ = [
    "code_pipeline",
    "cyber_pipeline",
    "golden_goose_pipeline",
    "math_pipeline",
    "offline_pipeline",
    "sample_corpus_path",
    "sample_data_path",
    "stem_pipeline",
]
