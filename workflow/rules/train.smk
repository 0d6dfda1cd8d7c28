"""RL training, one job per (environment, horizon, method, seed).

The job's only declared output is the `done` marker the trainer writes last: a killed job leaves its
folder (checkpoints/, traces.nc, metrics.csv) in place, Snakemake has nothing to delete, and the rerun
resumes from the latest checkpoint. The run's resolved config is written by its own small rule: a change
of any value the run uses changes that rule's params, which rewrites the file and reruns this run only.
The trainer decides what the folder holds (`hiper_repro.train.resume`): with `--restart-stale` a run
trained under another config or before its inputs were rebuilt is deleted and trained again, and only a
genuinely interrupted run is resumed.
"""


rule train_config:
    output:
        config=results("configs/train/{env}/h{horizon}/{method}/seed{seed}.yaml"),
    log:
        results("logs/configs/train/{env}/h{horizon}/{method}/seed{seed}.log"),
    params:
        config=train_config,
    localrule: True
    run:
        # a config file's paths are relative to its folder (the trainer's rule), not to the working directory
        write_config(output.config, relative_paths(params.config, Path(output.config).parent), log[0])


rule train:
    input:
        config=results("configs/train/{env}/h{horizon}/{method}/seed{seed}.yaml"),
        model=lambda w: results(f"models/{w.env}/{method_format(w.method)}/warmstart"),
        train_tasks=results("tasks/{env}/h{horizon}/train.jsonl"),
        eval_tasks=results("tasks/{env}/h{horizon}/eval.jsonl"),
    output:
        done=results("runs/{env}/h{horizon}/{method}/seed{seed}/done"),
    log:
        results("logs/runs/{env}/h{horizon}/{method}/seed{seed}/train.log"),
    benchmark:
        results("benchmarks/runs/{env}/h{horizon}/{method}/seed{seed}/train.tsv")
    params:
        out=lambda w: run_dir(w.env, w.horizon, w.method, w.seed),
        launcher=launcher,  # a command prefix built from resources, not a config value: unquoted
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        gpu=config["train"]["gpu"],
        runtime=config["train"]["runtime"],
    shell:
        "{params.launcher} train --threads {threads} --restart-stale --config {input.config:q} --out {params.out:q} > {log:q} 2>&1"
