"""The documentation: the mkdocs site builds with no warning, and every public name shows an example.

The operator, preset, engine, verifier and export pages are rendered from docstrings by
mkdocstrings, so a docstring that breaks the build (or a page naming a module that is
gone) fails here rather than on the published site.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import goose

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_build_is_strict_clean(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install mkdocs 'mkdocstrings[python]' griffe-pydantic)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    log = built.stdout + built.stderr
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, f"mkdocs build printed warnings:\n{log}"
    for page in ("concepts", "engines", "verifier", "outputs", "presets", "operators/probe_difficulty"):
        assert (tmp_path / "site" / page / "index.html").is_file(), f"page {page} was not built"
    # the operator pages come from the docstrings: the drop reasons must be on them
    probe_page = (tmp_path / "site" / "operators" / "probe_difficulty" / "index.html").read_text(encoding="utf-8")
    assert "too_easy" in probe_page and "no_letter_logprobs" in probe_page


def _source_module(package: str, name: str) -> str:
    """The module a package's ``from X import name`` takes ``name`` from (the package itself if none);
    imports under ``if TYPE_CHECKING:`` count (a package that imports its names lazily lists them there)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
            return node.module
    return package


def _attribute_docstring(module: str, name: str) -> str | None:
    """The string literal right after ``name = ...`` at module level, following re-exports."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    body = ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body
    for node, following in zip(body, body[1:]):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                return str(following.value.value)
            return None
    source = _source_module(module, name)
    return None if source == module else _attribute_docstring(source, name)


@pytest.mark.parametrize("name", goose.__all__)
def test_public_name_has_an_example(name: str) -> None:
    obj = getattr(goose, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    else:  # data such as TASK_SCHEMA: its docstring is the string literal after its assignment
        doc = _attribute_docstring(_source_module("goose", name), name)
    assert doc, f"goose.{name} has no docstring"
    assert ">>>" in doc, f"the docstring of goose.{name} shows no example (a '>>>' line)"


def test_docs_griffe_extension_examples() -> None:
    """The docs build's own griffe extension (docs/_griffe) keeps its examples true."""
    if importlib.util.find_spec("griffe") is None:
        pytest.skip("griffe is not installed (it comes with 'mkdocstrings[python]')")
    import doctest

    spec = importlib.util.spec_from_file_location("doctest_blocks", ROOT / "docs" / "_griffe" / "doctest_blocks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0
