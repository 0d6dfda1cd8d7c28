"""Task splits: written once per (environment, horizon, split), shared by every method and seed.

With `tasks.alfworld_data` set, the alfworld splits are ALFWorld's official games (train from its `train/`
folder, eval from `valid_unseen/`) instead of problems written from the household generator.
"""

ALFWORLD_FOLDERS = {"train": "train", "eval": "valid_unseen"}


def official_games(wildcards) -> str:
    """`--data-path FOLDER` (shell-quoted) for official ALFWorld games, else nothing."""
    root = config["tasks"]["alfworld_data"]
    if wildcards.env != "alfworld" or not root:
        return ""
    return "--data-path " + shlex.quote(str(Path(root) / ALFWORLD_FOLDERS[wildcards.split]))



rule tasks:
    output:
        tasks=results("tasks/{env}/h{horizon}/{split}.jsonl"),
    log:
        results("logs/tasks/{env}/h{horizon}/{split}.log"),
    params:
        n=lambda w: config["tasks"]["n_train" if w.split == "train" else "n_eval"],
        seed=config["tasks"]["seed"],
        official=official_games,  # quoted where it is built
    shell:
        "hiper-repro tasks --threads {threads} --env {wildcards.env:q} --horizon {wildcards.horizon:q}"
        " --split {wildcards.split:q} --n {params.n:q} --seed {params.seed:q} {params.official}"
        " --out {output.tasks:q} > {log:q} 2>&1"
