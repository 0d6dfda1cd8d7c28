"""Task splits: written once per (environment, horizon, split), shared by every method and seed."""


rule tasks:
    output:
        tasks=results("tasks/{env}/h{horizon}/{split}.jsonl"),
    log:
        results("logs/tasks/{env}/h{horizon}/{split}.log"),
    params:
        n=lambda w: config["tasks"]["n_train" if w.split == "train" else "n_eval"],
        seed=config["tasks"]["seed"],
    shell:
        "hiper-repro tasks --env {wildcards.env:q} --horizon {wildcards.horizon:q}"
        " --split {wildcards.split:q} --n {params.n:q} --seed {params.seed:q}"
        " --out {output.tasks:q} > {log:q} 2>&1"
