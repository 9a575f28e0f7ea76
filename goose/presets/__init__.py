"""Ready pipelines: plain functions that return a :class:`goose.Pipeline` you can inspect and change."""

from goose.presets.offline import offline_pipeline, sample_corpus_path

__all__ = ["offline_pipeline", "sample_corpus_path"]
