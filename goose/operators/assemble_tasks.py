"""AssembleTasks: turn a passage, its gold span and its distractors into validated tasks.

Picks ``num_options - 1`` distractors from the (filtered, preference-ordered) list so
that the gold's length rank among the options is as uniform as the candidates allow: a
per-row seeded draw, uniform over the feasible counts, says how many options are longer
than the gold; that many are taken from the longer distractors, the rest from the shorter
ones (so neither "pick the longest" nor "pick the middle one" is a reliable shortcut). It shuffles them with a per-row seed, places the
gold, renders the question and checks every rule of :class:`goose.Task`.

Answer letters are balanced over the whole run, not just in expectation: the k-th task
the run builds gets its letter from a seeded permutation of all letters, a fresh one for
every ``num_options`` tasks, so among the tasks this step builds no letter is used more than once more than any other
(a policy learns nothing from "it is usually C"). Steps after it that drop tasks can
unbalance the final set: a probe model biased towards "A" solves, and so drops, more "A"
tasks; the run report shows the final letter counts. This makes the step stateful (it
counts the tasks built so far); a resumed run restores the count.

Input columns: ``source_id``, ``domain``, ``text``, ``span_start``, ``span_end``,
``distractors``, ``distractor_sources``; optional ``engine``, ``model``, ``prompt_version``,
``document_id``, ``document_start`` (set by :class:`~goose.operators.SplitPassages`; they go
to the task's lineage).
Output columns: exactly :data:`goose.schema.TASK_SCHEMA`.
Drops: ``too_few_distractors`` (fewer than ``num_options - 1``), the reason code of the
task rule the row breaks (``gold_leak``, ``duplicate_options``, ...; see :mod:`goose.task`),
or ``prompt_too_long`` when ``max_prompt_tokens`` is set and the task's prompt is longer.

Prompt budget (off by default). A trainer refuses or truncates prompts longer than its
limit (verl: ``data.max_prompt_length``, 512 by default, with ``truncation=error``); setting
``max_prompt_tokens`` drops such tasks here, with a reason, instead. With
``prompt_tokenizer`` (a Hugging Face tokenizer name or folder, loaded with
``transformers.AutoTokenizer`` from local files only: no download) the count is that
tokenizer's, of the question as the one user message of its chat template when it has one
(as verl and TRL render it). Without it, the count is a word proxy,
:func:`proxy_token_count`: 1.4 tokens per word or punctuation mark, rounded up. On goose's
sample tasks a BPE tokenizer (SmolLM2's) gave 0.99 to 1.39 tokens per word or mark (1.12 on
average), so the proxy rarely counts fewer tokens than a real tokenizer; it does not count
a chat template's few extra tokens, so leave a margin of a few dozen tokens.
Dropped tasks do not use up an answer letter: the letter balance holds among kept tasks.

>>> letters = [answer_slot(seed=0, position=k, num_options=3) for k in range(6)]
>>> sorted(letters[:3]) == sorted(letters[3:]) == [0, 1, 2]
True
>>> AssembleTasks(num_options=4, max_prompt_tokens=1024).max_prompt_tokens
1024
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr, ValidationError

from goose.pipeline.operator import BatchResult, Drop, Operator, RunContext
from goose.schema import tasks_to_table
from goose.task import Task, TaskProblem

_OPTIONAL_LINEAGE = ("engine", "model", "prompt_version", "document_id", "document_start")
_PROXY_PIECE = re.compile(r"\w+|[^\w\s]")
PROXY_TOKENS_PER_PIECE = 1.4
"""Tokens counted per word or punctuation mark by :func:`proxy_token_count`."""


def proxy_token_count(text: str) -> int:
    """A tokenizer-free estimate of a prompt's token count: 1.4 per word or punctuation mark,
    rounded up (meant to count a little more than a BPE tokenizer does; see the module doc).

    >>> proxy_token_count("Which option fills the gap? A. x = 2")
    16
    """
    return math.ceil(PROXY_TOKENS_PER_PIECE * len(_PROXY_PIECE.findall(text)))


def load_prompt_counter(tokenizer: str) -> Callable[[str], int]:
    """A function counting the tokens of a question sent as one user chat message, with the
    ``transformers`` tokenizer ``tokenizer`` read from local files only; ValueError when it
    cannot be loaded (the message says what to do).
    """
    try:
        from transformers import AutoTokenizer
    except ImportError as error:
        raise ValueError(
            f"prompt_tokenizer={tokenizer!r} needs transformers (pip install transformers); "
            "or leave prompt_tokenizer unset to count with the word proxy"
        ) from error
    try:
        loaded = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot load the tokenizer {tokenizer!r} from local files ({' '.join(str(error).split())[:200]}); "
            "pass a local tokenizer folder, or download it first, or leave prompt_tokenizer unset"
        ) from error

    def count(question: str) -> int:
        if getattr(loaded, "chat_template", None):
            ids = loaded.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                             tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            return len(ids)
        return len(loaded(question, add_special_tokens=True)["input_ids"])

    return count


def answer_slot(*, seed: int, position: int, num_options: int) -> int:
    """The gold's option index for the ``position``-th task of a run: each block of
    ``num_options`` consecutive tasks uses every index once, in a seeded order.

    >>> [answer_slot(seed=1, position=k, num_options=2) for k in range(4)] in ([0, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1], [1, 0, 1, 0])
    True
    """
    block, offset = divmod(position, num_options)
    digest = np.random.SeedSequence([seed, num_options, block])
    return int(np.random.default_rng(digest).permutation(num_options)[offset])


class AssembleTasks(Operator):
    """Build validated multiple-choice tasks with seeded, run-balanced answer letters."""

    requires: ClassVar[tuple[str, ...]] = (
        "source_id", "domain", "text", "span_start", "span_end", "distractors", "distractor_sources",
    )
    produces: ClassVar[tuple[str, ...]] = (
        "id", "domain", "source_id", "masked_text", "gold", "options", "answer", "question", "lineage",
    )

    num_options: int = Field(9, ge=2, le=26, description="Options per task, gold included (the paper's best: 9).")
    max_prompt_tokens: int | None = Field(
        None, ge=1, description="Drop tasks whose prompt is longer (reason prompt_too_long); None: no limit. "
        "Match the trainer's prompt limit (verl: data.max_prompt_length).")
    prompt_tokenizer: str | None = Field(
        None, description="With max_prompt_tokens: a local Hugging Face tokenizer (name or folder) to count with; "
        "None: the word proxy (1.4 tokens per word or punctuation mark).")

    stateful: ClassVar[bool] = True
    _built: int = PrivateAttr(0)
    _built_at_checkpoint: int = PrivateAttr(0)

    _count_tokens: Any = PrivateAttr(None)

    def start_run(self) -> None:
        self._built = 0
        self._built_at_checkpoint = 0
        if self.max_prompt_tokens is not None and self.prompt_tokenizer is not None and self._count_tokens is None:
            self._count_tokens = load_prompt_counter(self.prompt_tokenizer)  # fail before the first batch

    def _prompt_tokens(self, question: str) -> int:
        if self.prompt_tokenizer is None:
            return proxy_token_count(question)
        if self._count_tokens is None:
            self._count_tokens = load_prompt_counter(self.prompt_tokenizer)
        return self._count_tokens(question)

    def checkpoint(self) -> bytes:
        """How many tasks were built since the previous checkpoint (8 bytes, little-endian)."""
        delta = self._built - self._built_at_checkpoint
        self._built_at_checkpoint = self._built
        return delta.to_bytes(8, "little")

    def restore(self, checkpoints: Sequence[bytes]) -> None:
        self._built = sum(int.from_bytes(state, "little") for state in checkpoints)
        self._built_at_checkpoint = self._built

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        columns = list(self.requires) + [name for name in _OPTIONAL_LINEAGE if name in batch.column_names]
        tasks: list[Task] = []
        drops: list[Drop] = []
        for index, row in enumerate(batch.select(columns).to_pylist()):
            needed = self.num_options - 1
            if len(row["distractors"]) < needed:
                drops.append(Drop(index, "too_few_distractors", f"{len(row['distractors'])} distractors, need {needed}"))
                continue
            rng = context.rng(self.name, row["source_id"])
            gold_length = row["span_end"] - row["span_start"]
            longer = sum(len(d) > gold_length for d in row["distractors"])
            fewest, most = max(0, needed - (len(row["distractors"]) - longer)), min(needed, longer)
            picked = _pick_by_length_rank(row["distractors"], gold_length, needed, int(rng.integers(fewest, most + 1)))
            order = rng.permutation(len(picked)).tolist()
            try:
                task = Task.build(
                    domain=row["domain"],
                    source_id=row["source_id"],
                    passage=row["text"],
                    span=(row["span_start"], row["span_end"]),
                    distractors=[row["distractors"][picked[i]] for i in order],
                    distractor_sources=[row["distractor_sources"][picked[i]] for i in order],
                    answer_index=answer_slot(seed=context.seed, position=self._built, num_options=self.num_options),
                    seed=context.seed,
                    operators=list(context.operators),
                    **{name: row.get(name) for name in _OPTIONAL_LINEAGE},
                )
            except TaskProblem as problem:
                drops.append(Drop(index, problem.reason, problem.detail))
                continue
            except ValidationError as error:
                problem = _task_problem(error)
                drops.append(Drop(index, problem.reason if problem else "invalid_task", str(problem or error)[:300]))
                continue
            if self.max_prompt_tokens is not None:
                tokens = self._prompt_tokens(task.question)
                if tokens > self.max_prompt_tokens:
                    counter = self.prompt_tokenizer or "word proxy"
                    drops.append(Drop(index, "prompt_too_long",
                                      f"{tokens} prompt tokens ({counter}) > max_prompt_tokens {self.max_prompt_tokens}"))
                    continue
            tasks.append(task)
            self._built += 1
        return BatchResult(tasks_to_table(tasks), drops)


def _pick_by_length_rank(distractors: list[str], gold_length: int, needed: int, longer_wanted: int) -> list[int]:
    """Indices of ``needed`` distractors of which ``longer_wanted`` are longer than the gold
    (as near as the list allows), each side in preference order.

    >>> _pick_by_length_rank(["aaaa", "a", "aaaaa", "aa"], gold_length=3, needed=3, longer_wanted=1)
    [0, 1, 3]
    """
    longer = [i for i, d in enumerate(distractors) if len(d) > gold_length]
    shorter = [i for i, d in enumerate(distractors) if len(d) <= gold_length]
    take_shorter = min(needed - min(longer_wanted, len(longer)), len(shorter))
    take_longer = needed - take_shorter
    return sorted(longer[:take_longer] + shorter[:take_shorter])


def _task_problem(error: ValidationError) -> TaskProblem | None:
    for detail in error.errors():
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, TaskProblem):
            return cause
    return None
