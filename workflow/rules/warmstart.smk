"""Supervised warm start on expert demonstrations, once per (environment, format), shared by all runs."""


rule warmstart_config:
    output:
        config=results("configs/warmstart/{env}/{format}.yaml"),
    log:
        results("logs/configs/warmstart/{env}/{format}.log"),
    params:
        config=warmstart_config,
    localrule: True
    run:
        write_config(output.config, params.config, log[0])


rule warmstart:
    input:
        config=results("configs/warmstart/{env}/{format}.yaml"),
        model=results("models/{env}/{format}/base"),
    output:
        model=directory(results("models/{env}/{format}/warmstart")),
    log:
        results("logs/models/{env}/{format}/warmstart.log"),
    benchmark:
        results("benchmarks/models/{env}/{format}/warmstart.tsv")
    threads: config["warmstart"]["threads"]
    resources:
        mem_mb=config["warmstart"]["mem_mb"],
        gpu=config["warmstart"]["gpu"],
        runtime=config["warmstart"]["runtime"],
    shell:
        "hiper-repro warmstart --threads {threads} --config {input.config:q} --out {output.model:q} > {log:q} 2>&1"
