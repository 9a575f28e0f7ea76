"""goose export output in the real trainers: one TRL GRPO step on CPU, verl's config and reward loading.

Marked ``trainers``: they need torch, TRL and verl, which the main environment does not have.
Build their environment with ``bash scripts/trainers_env.sh``, then run
``.venv-trainers/bin/python -m pytest -q tests/test_trainers.py -m trainers -p no:cacheprovider``.
No model is downloaded: the TRL test builds a tiny random-weight Llama and a byte-level BPE
tokenizer trained on the exported prompts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import goose
from goose.cli.export import export
from goose.runner import run_to_directory

torch = pytest.importorskip("torch")  # before the marker: the main environment skips the module here
trl = pytest.importorskip("trl")
verl = pytest.importorskip("verl")

pytestmark = pytest.mark.trainers

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
    return out


def _export(run_dir: Path, export_format: str, out: Path) -> Path:
    result = CliRunner().invoke(export, [str(run_dir), "--format", export_format, "--val-fraction", "0.2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _tiny_tokenizer(texts: list[str], folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|pad|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<|pad|>", eos_token="<|end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def _tiny_model(tokenizer, folder: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_one_grpo_step_on_exported_goose_data_mixed_with_another_data_set(run_dir, tmp_path):
    """The docs' TRL recipe: load_dataset(<export folder>), reward_funcs=goose.reward.trl_reward."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    import goose.reward

    out = _export(run_dir, "trl", tmp_path / "trl")
    dataset = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # the card's configs name the files
    assert set(dataset) == {"train", "validation"}
    train = dataset["train"]
    other = datasets.Dataset.from_dict({  # a non-goose data set with its own `answer` column
        "prompt": [[{"role": "user", "content": "What is 6 * 7?"}]] * 2, "answer": ["42", "42"],
        "id": ["gsm-1", "gsm-2"], "domain": ["gsm8k", "gsm8k"],
    }).cast(train.features)
    mixed = datasets.concatenate_datasets([other, train.select(range(6))])  # unshuffled: both kinds in step 1
    questions = [row["prompt"][0]["content"] for row in train]
    tokenizer = _tiny_tokenizer(questions, tmp_path / "tokenizer")
    model_dir = _tiny_model(tokenizer, tmp_path / "model")

    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=1, per_device_train_batch_size=8, num_generations=2,
                      max_completion_length=8, use_cpu=True, report_to="none", save_strategy="no", logging_steps=1,
                      seed=0, shuffle_dataset=False)
    trainer = GRPOTrainer(model=str(model_dir), reward_funcs=goose.reward.trl_reward, args=args, train_dataset=mixed,
                          processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 1
    step = trainer.state.log_history[0]
    # a random model earns 0.0 on the goose rows; the gsm8k rows get None, which TRL leaves out
    # of the mean (a raised error or a NaN would show here)
    assert step["rewards/trl_reward/mean"] == 0.0 and step["num_tokens"] > 0, step


def _verl_config(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose("ppo_trainer", overrides=overrides)


def _verl_rows(run_dir: Path, tmp_path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    out = _export(run_dir, "verl", tmp_path / "verl")
    return pq.read_table(out / "train.parquet").to_pylist()


@pytest.mark.parametrize("layout", ["verl>=0.7.1", "verl<=0.7.0"])
def test_verl_loads_and_calls_goose_compute_score_in_both_key_layouts(run_dir, tmp_path, layout):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    prefix = "reward." if layout == "verl>=0.7.1" else ""
    config = _verl_config([f"{prefix}custom_reward_function.path=pkg://goose.export.verl",
                           f"{prefix}custom_reward_function.name=compute_score"])
    if layout == "verl<=0.7.0":
        # verl 0.9 no longer reads the old keys (the pitfall docs/training.md warns about);
        # verl 0.7.1-0.8 main_ppo moved them with migrate_legacy_reward_impl, as done here
        assert get_custom_reward_fn(config) is None
        from verl.experimental.reward_loop import migrate_legacy_reward_impl

        config = migrate_legacy_reward_impl(config)
    reward_fn = get_custom_reward_fn(config)
    assert reward_fn is not None
    for row in _verl_rows(run_dir, tmp_path)[:5]:
        truth = row["reward_model"]["ground_truth"]
        wrong = "A" if truth != "A" else "B"
        kwargs = {"data_source": row["data_source"], "ground_truth": truth, "extra_info": row["extra_info"]}
        assert reward_fn(solution_str=f"Reasoning...\n\\boxed{{{truth}}}", **kwargs) == 1.0
        assert reward_fn(solution_str=f"Answer: {wrong}", **kwargs) == 0.0
    assert config.data.max_prompt_length == 512 and config.data.truncation == "error"  # why the docs raise it


def test_verl_batch_reward_manager_scores_goose_rows_with_compute_score_batch(run_dir, tmp_path):
    from verl import DataProto
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.batch import BatchRewardManager

    rows = _verl_rows(run_dir, tmp_path)[:6]
    config = _verl_config(["reward.custom_reward_function.path=pkg://goose.export.verl",
                           "reward.custom_reward_function.name=compute_score_batch"])
    tokenizer = _tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["Answer: \\boxed{A}"], tmp_path / "tok")
    truths = [row["reward_model"]["ground_truth"] for row in rows]
    answers = [truth if k % 2 == 0 else ("A" if truth != "A" else "B") for k, truth in enumerate(truths)]
    encoded = [tokenizer(f"So \\boxed{{{letter}}}")["input_ids"] for letter in answers]
    width = max(map(len, encoded))
    responses = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in encoded])
    prompts = torch.full((len(rows), 4), tokenizer.pad_token_id)
    mask = torch.cat([torch.ones_like(prompts), torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in encoded])], 1)
    data = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask},
        non_tensors={"data_source": np.array([r["data_source"] for r in rows], dtype=object),
                     "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
                     "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object)},
    )
    manager = BatchRewardManager(tokenizer, num_examine=0, compute_score=get_custom_reward_fn(config))
    rewards = manager(data).sum(dim=-1).tolist()
    assert rewards == [1.0 if k % 2 == 0 else 0.0 for k in range(len(rows))]
