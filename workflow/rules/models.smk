"""Base model and tokenizer, once per (environment, format): tiny random init or a converted checkpoint."""


rule model:
    input:
        tasks=lambda w: expand(
            results("tasks/{env}/h{horizon}/{split}.jsonl"), env=w.env, horizon=MODEL_HORIZONS, split=SPLITS
        ),
    output:
        model=directory(results("models/{env}/{format}/base")),
    log:
        results("logs/models/{env}/{format}/base.log"),
    benchmark:
        results("benchmarks/models/{env}/{format}/base.tsv")
    params:
        name=config["model"]["name"],
        seed=config["model"]["seed"],
    threads: config["model"]["threads"]
    resources:
        mem_mb=config["model"]["mem_mb"],
    shell:
        "hiper-repro model --threads {threads} --name {params.name:q} --tasks {input.tasks:q} --seed {params.seed:q}"
        " --out {output.model:q} > {log:q} 2>&1"
