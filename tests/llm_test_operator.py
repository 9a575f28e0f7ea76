"""A tiny LLM operator for tests: one engine request per row, the answer as a new column."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from goose.engines import ChatRequest, Failure
from goose.pipeline import Operator, RowOutcomes
from goose.pipeline.operator import RunContext


class Shout(Operator):
    """Asks the engine to upper-case each text (column ``loud``); drops rows whose request failed."""

    requires: ClassVar[tuple[str, ...]] = ("text",)
    produces: ClassVar[tuple[str, ...]] = ("loud",)
    uses_engine: ClassVar[bool] = True

    def process(self, batch: pa.Table, context: RunContext):
        texts = batch.column("text").to_pylist()
        answers = context.require_engine(self.name).generate([ChatRequest.user(t) for t in texts], tag=self.name)
        outcomes = RowOutcomes(batch, types={"loud": pa.string()})
        for index, answer in enumerate(answers):
            if isinstance(answer, Failure):
                outcomes.drop(index, answer.reason, answer.message)
            else:
                outcomes.keep(index, loud=answer.text)
        return outcomes.result()
