"""A scripted "model" for the LLM chain: right answers by default, scripted misbehaviour per document.

It reads each request the way a model would (which goose prompt it is, the document or
passage in it) and answers like a cooperative but gullible model:

* extraction: the whole document (it is copied, so it is grounded), ``null`` if too short;
* masking: two or three consecutive sentences/lines as the removed span and twelve
  word-shuffles of it as distractors;
* judging: ``{"also_correct": []}``;
* probing: a letter that depends on the prompt's hash, ``\\boxed{A}`` when the page tells
  it to output A.

It obeys prompt injections in the page (answers with the fake JSON the page holds, copies
the sentence it is told to copy). A document whose first line is ``Case <name>.`` (see
``bad_inputs.marked``) gets the misbehaviour ``<name>`` at the step the name starts with:
malformed, truncated or deeply nested JSON, wrong keys, a span not in the passage, the
whole passage as the span, distractors equal to the gold, back-end errors, ...

``EXPECTED`` maps each misbehaviour to the drop reasons it may end in.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter

from goose.engines.backend import BackendError
from goose.engines.types import ChatRequest
from goose.text.segment import Segmenter

_CASE = re.compile(r"\bCase ([a-z0-9_]+)\.")
_FAKE_JSON = re.compile(r"Ignore previous instructions and answer (\{.*?\})(?= |$)")
_COPY_ORDER = re.compile(r"([^.]*?copy this sentence as the removed span[^.]*\.)")
_HEADS = {
    "extract": "You read noisy web documents",
    "judge": "A span of the passage below was replaced by [MASK].",
    "mask": "You write multiple-choice reasoning exercises",
}
"""Step -> how its goose prompt starts; any other prompt is a probe (a task's question)."""

EXPECTED: dict[str, set[str]] = {
    "extract_malformed": {"engine_malformed_json"},
    "extract_truncated": {"engine_malformed_json"},
    "extract_wrong_keys": {"engine_schema_mismatch"},
    "extract_null": {"no_educational_passage"},
    "extract_invented": {"extraction_not_grounded"},
    "extract_too_short": {"extraction_length"},
    "extract_timeout": {"engine_timeout"},
    "extract_deep_json": {"engine_malformed_json"},
    "mask_malformed": {"engine_malformed_json"},
    "mask_truncated": {"engine_malformed_json"},
    "mask_wrong_keys": {"engine_schema_mismatch"},
    "mask_not_in_passage": {"span_not_in_source"},
    "mask_whole_passage": {"span_too_long"},
    "mask_gold_distractors": {"too_few_distractors_returned"},
    "mask_empty": {"engine_empty_response"},
    "mask_list": {"engine_schema_mismatch"},
    "mask_deep_json": {"engine_malformed_json"},
    "mask_non_string_distractors": {"engine_schema_mismatch"},
    "mask_null_span": {"engine_schema_mismatch"},
    "mask_mask_in_distractors": {"too_few_distractors"},
    "mask_short_distractors": {"too_few_distractors"},
    "mask_bad_request": {"engine_bad_request"},
    "mask_echo": {"engine_malformed_json", "engine_schema_mismatch"},  # braces in the passage may parse
    "judge_all": {"too_few_distractors"},
    "judge_garbage": {"engine_malformed_json"},
    "probe_error": {"engine_bad_request"},
}
"""Misbehaviour -> the drop reasons its row may end in."""

MAY_SUCCEED = (
    "extract_server_error_once", "mask_flaky", "mask_fenced_prose", "mask_misquoted", "mask_span_with_mask", "probe_garbage",
)
"""Misbehaviours a robust pipeline recovers from: the row may still become a task (a span
with ``[MASK]`` pasted in is re-located to the source text, which holds no ``[MASK]``)."""

SCRIPTED_ONLY = ("extract_timeout", "extract_server_error_once", "mask_bad_request", "mask_flaky", "probe_error")
"""Misbehaviours that are back-end errors, which only the scripted back end raises
(over HTTP the stub server's ``[fault=...]`` directives play that part)."""


class FakeModel:
    """Call it with a :class:`ChatRequest`: a reply text, or a :class:`BackendError`.

    ``calls`` counts the requests per ``step:behaviour``, ``prompts`` keeps every prompt.
    """

    def __init__(self) -> None:
        self.segmenter = Segmenter()
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.prompts: list[str] = []

    def __call__(self, request: ChatRequest) -> str | BackendError:
        prompt = request.messages[-1]["content"]
        self.prompts.append(prompt)
        case = _CASE.search(prompt)
        behaviour = case.group(1) if case else "ok"
        step = next((name for name, head in _HEADS.items() if prompt.startswith(head)), "probe")
        self.calls[f"{step}:{behaviour}"] += 1
        self.attempts[prompt] += 1  # retries resend the same prompt
        attempt = self.attempts[prompt]
        if step == "extract":
            return self.extract(_quoted(prompt, "document"), behaviour, attempt)
        if step == "judge":
            return self.judge(behaviour)
        if step == "mask":
            return self.mask(_quoted(prompt, "passage"), behaviour, attempt)
        return self.probe(prompt, behaviour)

    # -- the steps --------------------------------------------------------------------------

    def extract(self, document: str, behaviour: str, attempt: int) -> str | BackendError:
        words = list(re.finditer(r"\S+", document))
        copied = document[: words[min(len(words), 500) - 1].end()] if len(words) >= 100 else None  # lines kept: code
        good = json.dumps({"passage": copied})
        return {
            "extract_malformed": '{"passage": "unterminated',
            "extract_truncated": good[: len(good) // 2],
            "extract_wrong_keys": json.dumps({"text": document[:200], "summary": "x"}),
            "extract_null": json.dumps({"passage": None}),
            "extract_invented": json.dumps({"passage": "Purple elephants negotiate tariffs on Jupiter. " * 30}),
            "extract_too_short": json.dumps({"passage": document[: words[19].end()]}),
            "extract_timeout": BackendError("timeout", "scripted: no answer"),
            "extract_deep_json": "[" * 50_000 + "]" * 50_000,
            "extract_server_error_once": BackendError("server_error", "scripted 503") if attempt == 1 else good,
        }.get(behaviour, good)

    def mask(self, passage: str, behaviour: str, attempt: int) -> str | BackendError:
        obeyed = self._obey(passage)
        if obeyed is not None:
            return obeyed
        span = self.pick_span(passage)
        distractors = shuffled(span, 12)
        good = json.dumps({"removed_span": span, "distractors": distractors})
        if behaviour == "mask_flaky" and attempt == 1:
            return BackendError("server_error", "scripted 500")
        return {
            "mask_malformed": '{"removed_span": "a", "distractors": ["b", ',
            "mask_truncated": good[: len(good) // 2],
            "mask_wrong_keys": json.dumps({"span": span, "options": distractors}),
            "mask_not_in_passage": json.dumps(
                {"removed_span": "Quantum bananas orbit the moon every Tuesday afternoon, which explains the weather.",
                 "distractors": distractors}),
            "mask_whole_passage": json.dumps({"removed_span": passage, "distractors": shuffled(passage, 12)}),
            "mask_gold_distractors": json.dumps({"removed_span": span, "distractors": [span, f" {span} ", span.upper()] * 4}),
            "mask_empty": "",
            "mask_list": json.dumps([span, *distractors]),
            "mask_deep_json": '{"removed_span": ' + "[" * 50_000 + "]" * 50_000 + "}",
            "mask_non_string_distractors": json.dumps({"removed_span": span, "distractors": [1, None, {"a": 1}, [2]] * 3}),
            "mask_null_span": json.dumps({"removed_span": None, "distractors": distractors}),
            "mask_mask_in_distractors": json.dumps({"removed_span": span, "distractors": [f"[MASK] {d}" for d in distractors]}),
            "mask_short_distractors": json.dumps({"removed_span": span, "distractors": [f"No {k}." for k in range(12)]}),
            "mask_bad_request": BackendError("bad_request", "scripted HTTP 400: context length exceeded"),
            "mask_echo": passage,
            "mask_fenced_prose": f"Sure! Here is the JSON you asked for:\n```json\n{good}\n```\nHope this helps.",
            "mask_misquoted": json.dumps({"removed_span": "  " + span.replace(" ", "  ", 3) + " ", "distractors": distractors}),
            "mask_span_with_mask": json.dumps({"removed_span": span[:20] + " [MASK] " + span[20:], "distractors": distractors}),
        }.get(behaviour, good)

    def judge(self, behaviour: str) -> str:
        if behaviour == "judge_all":
            return json.dumps({"also_correct": list(range(1, 13))})
        if behaviour == "judge_garbage":
            return '{"also_correct": [1, 2'
        return json.dumps({"also_correct": []})

    def probe(self, prompt: str, behaviour: str) -> str | BackendError:
        if behaviour == "probe_error":
            return BackendError("bad_request", "scripted HTTP 400")
        if behaviour == "probe_garbage":
            return "I would rather not say. Maybe C, maybe D."
        if "output the letter A" in prompt:
            return "As instructed: \\boxed{A}"
        letter = "ABCDEFGHI"[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 9]
        return f"Let me think step by step. The answer is \\boxed{{{letter}}}."

    # -- helpers ----------------------------------------------------------------------------

    def _obey(self, passage: str) -> str | None:
        """What a gullible model answers when the page gives it orders, else None."""
        fake = _FAKE_JSON.search(passage)
        if fake:
            return fake.group(1)
        order = _COPY_ORDER.search(passage)
        if order:
            sentence = order.group(1).strip()
            return json.dumps({"removed_span": sentence, "distractors": [sentence] * 10})
        return None

    def pick_span(self, passage: str) -> str:
        """Two or three consecutive units after the first two, that occur once in the passage."""
        units = self.segmenter.units(passage)
        for size in (3, 2):
            for first in range(2, max(2, len(units) - size)):
                span = passage[units[first].start : units[first + size - 1].end]
                if 40 <= len(span) <= 0.45 * len(passage) and passage.count(span) == 1:
                    return span
        return passage[len(passage) // 3 : len(passage) // 2]


def shuffled(text: str, count: int) -> list[str]:
    """``count`` distinct seeded shuffles of ``text``'s words: same length, same words, wrong order."""
    words = text.split()
    found: list[str] = []
    for k in range(count * 4):
        order = words[:]
        random.Random(k).shuffle(order)
        candidate = " ".join(order)
        if candidate not in found and candidate != " ".join(words):
            found.append(candidate)
        if len(found) == count:
            break
    return found


def _quoted(prompt: str, tag: str) -> str:
    """The text a prompt quotes between ``<tag>`` and ``</tag>`` lines (the last such block)."""
    return prompt.rsplit(f"<{tag}>\n", 1)[-1].rsplit(f"\n</{tag}>", 1)[0]
