"""Cheap option scoring: the log-probability of each option letter as the model's next token.

One short generation per prompt (``max_tokens=1`` with ``top_logprobs``) gives the
model's preference over all letters at once, instead of ``N`` sampled rollouts. Letters
missing from the returned top tokens get ``-inf``.

>>> from goose.engines import Engine
>>> from goose.engines.testing import ScriptedBackend
>>> scores = score_letters(Engine(ScriptedBackend(["B"])), [ChatRequest.user("A or B?")], "AB")
>>> isinstance(scores[0], dict)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from goose.engines.engine import Engine
from goose.engines.types import ChatRequest, Failure, SamplingParams

TOP_LOGPROBS = 20
"""How many most likely next tokens to ask for (the most most servers allow)."""


def score_letters(
    engine: Engine, requests: Sequence[ChatRequest], letters: str, *, tag: str = "default"
) -> list[dict[str, float] | Failure]:
    """Per request, ``{letter: log-probability}`` of the model's first answer token.

    Token texts are compared after stripping spaces and brackets, so `` C``, ``C`` and
    ``(C`` all count for ``C``; the best-scoring variant wins.
    """
    sampling = SamplingParams(n=1, temperature=0.0, max_tokens=1, top_logprobs=TOP_LOGPROBS, seed=0)
    prepared = [r.model_copy(update={"sampling": sampling, "response_schema": None}) for r in requests]
    results: list[dict[str, float] | Failure] = []
    for generation in engine.generate(prepared, tag=tag):
        if isinstance(generation, Failure):
            results.append(generation)
            continue
        scores = {letter: -math.inf for letter in letters}
        positions = (generation.top_logprobs or [[]])[0]
        if positions:
            for token, logprob in positions[0].items():
                letter = token.strip().strip("([*").upper()
                if letter in scores and logprob > scores[letter]:
                    scores[letter] = logprob
        elif generation.text.strip()[:1].upper() in scores:
            scores[generation.text.strip()[:1].upper()] = 0.0  # no log-probs: the chosen token only
        results.append(scores)
    return results
