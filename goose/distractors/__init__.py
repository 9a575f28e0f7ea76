"""Wrong options without an LLM: where they come from (:mod:`goose.distractors.pool`) and
how the final ones are chosen against the shortcut solvers (:mod:`goose.distractors.selection`)."""
