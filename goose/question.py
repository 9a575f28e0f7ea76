"""The prompt a policy model sees for a task: domain instruction, masked passage, options.

>>> print(render_question("x = 2, so [MASK].", ["y = 4", "y = 5"], "math"))  # doctest: +ELLIPSIS
The following is a math problem with its worked solution...
"""

from __future__ import annotations

from collections.abc import Sequence

from goose.options import letter_for

MASK_TOKEN = "[MASK]"
"""The literal placeholder that replaces the removed span."""

DOMAIN_INSTRUCTIONS: dict[str, str] = {
    "math": (
        "The following is a math problem with its worked solution. Several consecutive "
        "steps of the solution were replaced by [MASK]."
    ),
    "stem": (
        "The following is a science question with its explanation. Several consecutive "
        "reasoning steps were replaced by [MASK]."
    ),
    "code": (
        "The following is a programming problem with its solution. Several consecutive "
        "lines were replaced by [MASK]."
    ),
    "cyber": (
        "The following is a cybersecurity passage. A span of several consecutive "
        "sentences was replaced by [MASK]."
    ),
    "general": (
        "The following passage contains reasoning. A span of several consecutive "
        "sentences was replaced by [MASK]."
    ),
}
"""Per-domain opening line; unknown domains use ``general``."""

ANSWER_INSTRUCTION = (
    "Which option correctly fills [MASK]? Think it through, then give the letter of "
    "exactly one option as your final answer in the form \\boxed{{X}}, where X is one of "
    "{letters}."
)


def render_question(masked_text: str, options: Sequence[str], domain: str) -> str:
    """Render the full question text for a masked passage and its lettered options.

    >>> "B. y = 5" in render_question("[MASK]", ["y = 4", "y = 5"], "general")
    True
    """
    instruction = DOMAIN_INSTRUCTIONS.get(domain, DOMAIN_INSTRUCTIONS["general"])
    lettered = "\n".join(f"{letter_for(i)}. {option}" for i, option in enumerate(options))
    letters = ", ".join(letter_for(i) for i in range(len(options)))
    return (
        f"{instruction}\n\n{masked_text}\n\nOptions:\n{lettered}\n\n"
        + ANSWER_INSTRUCTION.format(letters=letters)
    )
