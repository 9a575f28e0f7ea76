"""Keep secrets out of everything goose writes: failure messages (rejects, run report) and
manifests that record engine options.

Servers sometimes echo what they were sent, the API key included ("Incorrect API key
provided: sk-abc..."); a message goes through :func:`redact` before it becomes a
:class:`~goose.engines.types.Failure`. Besides the keys it is told about, it hides bearer
tokens and strings shaped like common API keys (``sk-...``, ``hf_...``, ``ghp_...``, ...).

>>> redact("Incorrect API key provided: sk-proj-abcdefghijklmnop1234")
'Incorrect API key provided: ***'
>>> redact("refused my-own-key-value for this model", secrets=["my-own-key-value"])
'refused *** for this model'
>>> redact_options({"api_key": "s3cret", "n_ctx": 4096})
{'api_key': '***', 'n_ctx': 4096}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
"""What a secret is replaced with."""

_KEY_SHAPED = re.compile(
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"  # Authorization header values
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}"  # OpenAI, Anthropic, Stripe-style keys
    r"|\b(?:hf|ghp|gho|ghs|github_pat|xox[abp]|glpat)_[A-Za-z0-9_-]{8,}"  # Hugging Face, GitHub, Slack, GitLab
    r"|\bAIza[A-Za-z0-9_-]{20,}"  # Google API keys
)

_SECRET_NAME = re.compile(r"(?i)(?:^|[_-])(?:api[_-]?key|token|secret|password|authorization|credentials?)$")
"""Option names whose values are secrets, whatever they look like (``api_key``, ``hf_token``;
not ``max_tokens`` nor ``api_key_env``, which names a variable)."""


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` (exact strings, 4+ characters) and every key-shaped
    string replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _KEY_SHAPED.sub(MASK, text)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` (e.g. an engine config as a dict) for writing down: values of
    secret-named keys become ``***``, nested mappings are redacted too, strings lose key-shaped
    parts (e.g. a bearer token inside ``extra_headers``)."""
    clean: dict[str, Any] = {}
    for name, value in options.items():
        if _SECRET_NAME.search(str(name)) and value not in (None, ""):
            clean[name] = MASK
        elif isinstance(value, Mapping):
            clean[name] = redact_options(value)
        elif isinstance(value, str):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean
