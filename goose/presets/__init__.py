"""Ready pipelines: plain functions that return a :class:`goose.Pipeline` you can inspect and change."""

from goose.presets.golden_goose import golden_goose_pipeline
from goose.presets.offline import offline_pipeline, sample_corpus_path

__all__ = ["golden_goose_pipeline", "offline_pipeline", "sample_corpus_path"]
