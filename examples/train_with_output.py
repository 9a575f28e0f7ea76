"""From goose tasks to RL training inputs: a verl parquet file and TRL's reward function.

Needs: `pip install -e .` only. No GPU, no API key, no download, and neither verl nor trl
installed: the script writes the files those trainers read and calls the reward functions
they would call, to show what a training run would see.

    python examples/train_with_output.py /tmp/goose-train

It runs the offline pipeline on goose's sample corpus, holds out a few tasks for
validation, writes `tasks.parquet`, `verl_train.parquet` and `verl_val.parquet`, then
scores a right and a wrong completion of one task with `goose.reward.trl_reward` (TRL's
`GRPOTrainer` reward function, over the dataset of `goose.export.to_trl`) and with
`goose.export.verl.compute_score` (verl's custom reward function). The commands to start
real training runs are printed at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

import goose
import goose.export.verl
from goose.export import to_trl, write_parquet, write_verl_parquet
from goose.reward import trl_reward

VALIDATION_TASKS = 8


def main(out_dir: Path) -> None:
    result = goose.offline_pipeline(num_options=9, seed=0).run(goose.sample_corpus_path())
    tasks = result.tasks
    print(f"{tasks.num_rows} tasks from {result.rows_in} passages ({result.rejects.num_rows} rejected)")

    train, val = tasks.slice(VALIDATION_TASKS), tasks.slice(0, VALIDATION_TASKS)
    write_parquet(tasks, out_dir / "tasks.parquet")
    train_path = write_verl_parquet(train, out_dir / "verl_train.parquet", split="train")
    val_path = write_verl_parquet(val, out_dir / "verl_val.parquet", split="validation")
    row = pq.read_table(train_path).slice(0, 1).to_pylist()[0]
    print(f"\nverl: {train_path} ({train.num_rows} rows), {val_path} ({val.num_rows} rows); one row:")
    print(f"  data_source={row['data_source']!r} ability={row['ability']!r} reward_model={row['reward_model']}")
    print(f"  prompt[0]['content'] starts: {row['prompt'][0]['content'][:90]!r}...")

    # TRL: GRPOTrainer(reward_funcs=trl_reward, train_dataset=to_trl(tasks)) passes the
    # dataset's `answer` column to the reward function as a keyword argument.
    dataset = to_trl(train)
    gold = dataset[0]["answer"]
    wrong = next(letter for letter in "ABCDEFGHI" if letter != gold)
    completions = [
        [{"role": "assistant", "content": f"The removed steps must compute the result.\n\\boxed{{{gold}}}"}],
        [{"role": "assistant", "content": f"Answer: {wrong}"}],
        [{"role": "assistant", "content": f"It is {gold} or {wrong}."}],  # a hedge commits to nothing
    ]
    rewards = trl_reward(completions, answer=[gold] * len(completions))
    print(f"\nTRL reward for task {dataset[0]['id']} (gold {gold}):")
    for completion, reward in zip(completions, rewards):
        print(f"  {reward:.1f}  {completion[0]['content']!r}")
    assert rewards == [1.0, 0.0, 0.0], rewards

    verl_scores = [
        goose.export.verl.compute_score(row["data_source"], text, row["reward_model"]["ground_truth"])
        for text in (f"\\boxed{{{row['reward_model']['ground_truth']}}}", "\\boxed{Z}")
    ]
    print(f"\nverl compute_score, right and wrong completion: {verl_scores}")
    assert verl_scores == [1.0, 0.0], verl_scores

    print(f"""
Train with verl (on a GPU machine, verl installed; verl <= 0.7.0: drop the 'reward.' prefix):
  python -m verl.trainer.main_ppo algorithm.adv_estimator=grpo \\
    data.train_files={train_path} data.val_files={val_path} \\
    data.max_prompt_length=2048 data.filter_overlong_prompts=True \\
    reward.custom_reward_function.path=pkg://goose.export.verl reward.custom_reward_function.name=compute_score ...

Train with TRL:
  GRPOTrainer(model=..., reward_funcs=goose.reward.trl_reward,
              train_dataset=goose.export.to_trl(goose.export.read_tasks("{out_dir / 'tasks.parquet'}")), ...)

From a run folder, 'goose export RUN_DIR --format verl|trl|hf|jsonl' writes the train and
validation files (split by task id) and a dataset card; see docs/training.md.""")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "goose-train"))
