"""Pipelines described in YAML, validated by pydantic, for ``goose run CONFIG.yaml``.

A config names its input, the seed and batch size, and either a ready preset or the
operators in order, each with its parameters::

    input: data/passages.jsonl      # a path, URL, glob or folder, or a list; relative to this file
    seed: 0
    batch_size: 64
    operators:
      - PrepareText: {default_domain: math}
      - HeuristicMaskSpan: {max_units: 3}
      - CorpusDistractors: {}
      - FilterDistractors: {min_distractors: 8}
      - AssembleTasks: {num_options: 9}

or, instead of ``operators``, a preset: ``preset: offline`` with ``preset_options:
{num_options: 5}``, or a domain preset (``cyber``, ``stem``, ``math``, ``code``; see
:mod:`goose.presets.domains`). A domain preset runs offline without an ``engine`` section
and runs its LLM chain with one; ``engines: {probe: ...}`` gives its difficulty probe a
model of its own::

    input: ../../goose/data/sample_qa_pairs.jsonl
    preset: math
    preset_options: {num_options: 9, adapter: {question_column: problem}}

The input may be files anywhere fsspec reaches, with options, or a Hugging Face dataset
(see :class:`~goose.pipeline.sources.FileInput` and :class:`~goose.pipeline.sources.DatasetInput`)::

    input: data/*.jsonl.gz                                  # a glob; .gz/.bz2/.xz/.zst inferred
    input: {path: s3://bucket/corpus/, storage_options: {endpoint_url: "http://127.0.0.1:9000"}}
    input: {dataset: HuggingFaceFW/fineweb-edu, config: sample-10BT, split: train, streaming: true,
            revision: main, columns: {text: text, id: id}} # columns: goose name -> dataset column

A remote ``--out`` (``s3://bucket/runs/a``) uses the input's ``storage_options`` when the input
is on the same protocol, or its own: ``output: {storage_options: {profile: writer}}``.

Pipelines with LLM steps add an ``engine`` (see :class:`goose.engines.EngineConfig`)::

    engine:
      backend: openai                # local (llama.cpp on CPU), openai (any compatible server), vllm
      base_url: http://127.0.0.1:8000/v1
      model: Qwen/Qwen2.5-7B-Instruct
      cache: cache/responses.sqlite  # relative to this file; a re-run pays for no answered request

>>> RunConfig.model_validate({"input": "x.jsonl", "preset": "offline"}).batch_size
64
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from goose.engines import Engine, EngineConfig
from goose.operators import OPERATORS
from goose.pipeline import Operator, Pipeline
from goose.pipeline.sources import DatasetInput, FileInput
from goose.presets import (
    code_pipeline,
    cyber_pipeline,
    math_pipeline,
    offline_pipeline,
    stem_pipeline,
)

DOMAIN_PRESETS: dict[str, Callable[..., Pipeline]] = {
    "cyber": cyber_pipeline,
    "stem": stem_pipeline,
    "math": math_pipeline,
    "code": code_pipeline,
}
"""Presets that take ``engine=`` and ``probe_engine=``: the config's ``engine`` and
``engines: {probe: ...}`` are built and handed to them (none given: the offline variant)."""

PRESETS: dict[str, Callable[..., Pipeline]] = {"offline": offline_pipeline, **DOMAIN_PRESETS}
"""Preset builders by name."""


def _input_kind(value: Any) -> str | None:
    """Which input model a YAML ``input:`` mapping means (None: neither, an error)."""
    if isinstance(value, (FileInput, DatasetInput)):
        return "dataset" if isinstance(value, DatasetInput) else "path"
    if isinstance(value, dict):
        return "dataset" if "dataset" in value else "path" if "path" in value else None
    return None


def _is_url(path: str) -> bool:
    """Whether ``path`` names a protocol (``s3://``, ``hf://``, ``file://``)."""
    return "://" in path


def _resolved_files(data_files: Any, base: Path) -> Any:
    """``data_files`` (a path, a list, or lists by split) with local relative paths resolved against ``base``."""
    if isinstance(data_files, dict):
        return {split: _resolved_files(value, base) for split, value in data_files.items()}
    if isinstance(data_files, list):
        return [_resolved_files(value, base) for value in data_files]
    return data_files if _is_url(data_files) else _resolved(data_files, base)


def _resolved(path: str, base: Path) -> str:
    return str(Path(path).expanduser()) if Path(path).expanduser().is_absolute() else str(base / path)


class ConfigError(ValueError):
    """A run config that cannot be used; the message says which key and what to change."""


class OutputConfig(BaseModel):
    """Where the run folder goes is ``--out``; this says how to reach it when it is remote.

    >>> OutputConfig(storage_options={"endpoint_url": "http://127.0.0.1:9000"}).storage_options
    {'endpoint_url': 'http://127.0.0.1:9000'}
    """

    model_config = ConfigDict(extra="forbid")

    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options of a remote --out (endpoint, credentials); never written to the run folder.")


class RunConfig(BaseModel):
    """A validated ``goose run`` config; see the module docstring for the YAML shape."""

    model_config = ConfigDict(extra="forbid")

    input: Annotated[
        Union[Annotated[FileInput, Tag("path")], Annotated[DatasetInput, Tag("dataset")]],
        Discriminator(_input_kind, custom_error_type="input_kind",
                      custom_error_message="give a path (or list of paths), {path: ..., storage_options: ...} for "
                                           "files, or {dataset: NAME_OR_FOLDER, split: ...} for a datasets dataset"),
    ] = Field(description="Input files (paths, URLs, globs, folders; relative to the config file) or a dataset.")
    output: OutputConfig | None = Field(
        None, description="Options of a remote --out; without it, the input's storage_options when on the same protocol.")
    seed: int = Field(0, strict=True, description="Run seed: same input, config and seed give the same tasks.")
    batch_size: int = Field(64, ge=1, strict=True, description="Rows per batch (also the distractor pool size offline).")
    preset: str | None = Field(None, description=f"A ready pipeline: one of {sorted(PRESETS)}.")
    preset_options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the preset.")
    operators: list[dict[str, dict[str, Any] | None]] | None = Field(
        None, description="Operators in order, each a one-key mapping {Name: {parameter: value}}."
    )
    engine: EngineConfig | None = Field(None, description="The main LLM engine of steps that make LLM calls.")
    engines: dict[str, EngineConfig] = Field(
        default_factory=dict, description="Engines for other roles, e.g. {probe: {...}} for ProbeDifficulty(engine_role: probe)."
    )

    @field_validator("input", mode="before")
    @classmethod
    def _paths_are_files(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, (str, list)) else value

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; use one of {sorted(PRESETS)}")
        return value

    @field_validator("preset_options")
    @classmethod
    def _no_top_level_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        misplaced = sorted(set(value) & {"seed", "batch_size", "engine", "probe_engine"})
        if misplaced:
            raise ValueError(f"{misplaced} are top-level keys of the config (seed:, batch_size:, engine:, "
                             "engines: {probe: ...}), not preset_options")
        return value

    @field_validator("operators")
    @classmethod
    def _some_operators(cls, value: list | None) -> list | None:
        if value is not None and not value:
            raise ValueError("the list is empty, so the input rows would be written as tasks; list the steps "
                             "(PrepareText ... AssembleTasks) or use 'preset: offline'")
        return value

    @model_validator(mode="after")
    def _one_pipeline(self) -> RunConfig:
        if (self.preset is None) == (self.operators is None):
            raise ValueError("give either 'preset' or 'operators' (exactly one of them)")
        if self.preset_options and self.preset is None:
            raise ValueError("'preset_options' needs a 'preset'")
        return self

    def input_paths(self, base: Path) -> list[Path]:
        """The local input paths resolved against ``base`` (the config file's folder); URLs
        and a ``dataset`` input have none."""
        if not isinstance(self.input, FileInput):
            return []
        return [Path(_resolved(path, base)) for path in self.input.paths if not _is_url(path)]

    def input_source(self, base: Path) -> FileInput | DatasetInput:
        """The input with local paths resolved against ``base`` (the config file's folder),
        what :func:`goose.pipeline.sources.read_batches` reads.

        >>> config = RunConfig.model_validate({"input": ["a.jsonl", "s3://b/c/"], "preset": "offline"})
        >>> config.input_source(Path("/runs")).paths
        ('/runs/a.jsonl', 's3://b/c/')
        """
        if isinstance(self.input, DatasetInput):
            local = Path(_resolved(self.input.dataset, base))
            update: dict[str, Any] = {"dataset": str(local)} if local.exists() else {}
            if self.input.data_files is not None:  # relative to this file, like every path of the config
                update["data_files"] = _resolved_files(self.input.data_files, base)
            return self.input.model_copy(update=update)
        paths = [path if _is_url(path) else _resolved(path, base) for path in self.input.paths]
        return self.input.model_copy(update={"path": paths if isinstance(self.input.path, list) else paths[0]})

    def engine_configs(self, base: Path | None = None) -> dict[str, EngineConfig]:
        """The engine configs by role (``"main"`` for ``engine:``), with relative cache paths
        resolved against ``base``: what a Ray actor needs to build the same engines.

        >>> config = RunConfig.model_validate({"input": "x.jsonl", "preset": "offline",
        ...                                    "engine": {"backend": "local", "cache": "c.sqlite"}})
        >>> config.engine_configs(Path("/runs"))["main"].cache
        '/runs/c.sqlite'
        """
        found = {"main": self.engine} if self.engine is not None else {}
        found.update(self.engines)
        resolved = {}
        for role, engine in found.items():
            if engine.cache is not None and base is not None and not Path(engine.cache).is_absolute():
                engine = engine.model_copy(update={"cache": str(Path(base) / engine.cache)})
            resolved[role] = engine
        return resolved

    def build_pipeline(self, base: Path | None = None) -> Pipeline:
        """The pipeline this config describes, with its engine (if any) built; a relative
        engine cache path is resolved against ``base`` (the config file's folder).
        The caller closes ``pipeline.engine`` when the run is over."""
        if self.preset in DOMAIN_PRESETS:
            return self._build_engine_preset(base)
        if self.preset is not None:
            options = {"seed": self.seed, "batch_size": self.batch_size, **self.preset_options}
            try:
                pipeline = PRESETS[self.preset](**options)
            except ValidationError as error:
                raise ConfigError(f"preset_options of preset {self.preset!r}: {_problems(error)}") from error
            except (TypeError, ValueError) as error:
                raise ConfigError(f"preset {self.preset!r}: {error}") from error
            operators = pipeline.operators
        else:
            operators = [_build_operator(i, step) for i, step in enumerate(self.operators or [])]
        roles = {role for op in operators for role in op.engine_roles()}
        needs_engine = [op.name for op in operators if "main" in op.engine_roles()]
        if needs_engine and self.engine is None:
            raise ConfigError(f"{', '.join(needs_engine)} make(s) LLM calls: add an 'engine:' section "
                              "(e.g. 'engine: {backend: local}')")
        missing = sorted(roles - {"main"} - set(self.engines))
        if missing:
            raise ConfigError(f"steps call engine role(s) {missing}: add them under 'engines:' "
                              f"(e.g. 'engines: {{{missing[0]}: {{backend: local}}}}')")
        built: dict[str, Engine] = {}
        try:
            if self.engine is not None and needs_engine:
                built["main"] = self.engine.build(base)
            for role, config in self.engines.items():
                if role in roles:
                    built[role] = config.build(base)
        except ValueError as error:  # a back end refusing an option's value
            for engine in built.values():
                engine.close()
            raise ConfigError(f"engine: {error}") from error
        others = {role: engine for role, engine in built.items() if role != "main"}
        return Pipeline(operators, seed=self.seed, batch_size=self.batch_size, engine=built.get("main"), engines=others)

    def _build_engine_preset(self, base: Path | None) -> Pipeline:
        """A domain preset with the config's engines: ``engine`` -> ``engine=``,
        ``engines: {probe: ...}`` -> ``probe_engine=``; engines are built only when used."""
        assert self.preset is not None
        unknown = sorted(set(self.engines) - {"probe"})
        if unknown:
            raise ConfigError(f"engines: preset {self.preset!r} uses only the role 'probe', not {unknown}")
        if "probe" in self.engines and self.engine is None:
            raise ConfigError(f"engines.probe: preset {self.preset!r} runs offline without an 'engine:' section, "
                              "and offline there is no probe; add 'engine:' or remove 'engines:'")
        options = {"seed": self.seed, "batch_size": self.batch_size, **self.preset_options}
        try:  # check the option names before paying for an engine start
            inspect.signature(DOMAIN_PRESETS[self.preset]).bind(**options)
        except TypeError as error:
            raise ConfigError(f"preset_options of preset {self.preset!r}: {error}") from error
        if self.engine is None:
            try:
                return DOMAIN_PRESETS[self.preset](**options)
            except ValueError as error:
                raise ConfigError(f"preset {self.preset!r}: {error}") from error
        built: list[Engine] = []
        try:
            built.append(self.engine.build(base))
            if "probe" in self.engines:
                built.append(self.engines["probe"].build(base))
            probe = built[1] if len(built) > 1 else None
            return DOMAIN_PRESETS[self.preset](built[0], probe_engine=probe, **options)
        except BaseException as error:  # close what was started, whatever went wrong
            for engine in built:
                engine.close()
            if isinstance(error, ValueError):
                raise ConfigError(f"preset {self.preset!r}: {error}") from error
            raise


def _build_operator(position: int, step: dict[str, dict[str, Any] | None]) -> Operator:
    if len(step) != 1:
        raise ConfigError(f"operators[{position}] must be one mapping like 'PrepareText: {{}}', got keys {sorted(step)}")
    (name, params), = step.items()
    if name not in OPERATORS:
        raise ConfigError(f"operators[{position}]: unknown operator {name!r}; known: {', '.join(sorted(OPERATORS))}")
    try:
        return OPERATORS[name].model_validate(params or {})
    except ValidationError as error:
        raise ConfigError(f"operators[{position}] {name}: {_problems(error, name)}") from error


def _problems(error: ValidationError, where: str = "config") -> str:
    """A pydantic error as one line: ``key: message`` per problem.

    >>> try:
    ...     RunConfig.model_validate({"input": "x.jsonl", "preset": "offline", "batch_size": True})
    ... except ValidationError as error:
    ...     print(_problems(error))
    batch_size: Input should be a valid integer
    """
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or where}: {e['msg'].removeprefix('Value error, ')}"
                     for e in error.errors())


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # an unhashable key: the base class says what is wrong with it
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} is given twice in one mapping; "
                                  "keep one of them")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config; raises :class:`ConfigError` with the bad key.

    >>> load_config("/nonexistent.yaml")
    Traceback (most recent call last):
    goose.config.ConfigError: config file /nonexistent.yaml does not exist
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from error
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with keys such as 'input' and 'operators'")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path}: {_problems(error)}") from error
