"""Evaluation of each warm start on every fixed eval split, at the evaluation temperature, before RL.

Trained policies are evaluated inside their run (the traces' /evaluation group) on the same split.
"""


rule evaluate:
    input:
        model=results("models/{env}/{format}/warmstart"),
        tasks=results("tasks/{env}/h{horizon}/eval.jsonl"),
    output:
        result=report(
            results("eval/{env}/h{horizon}/{format}/warmstart.json"),
            caption="../report/evaluate.rst",
            category="Warm start",
            labels={"environment": "{env}", "horizon": "{horizon}", "format": "{format}"},
        ),
    log:
        results("logs/eval/{env}/h{horizon}/{format}/warmstart.log"),
    benchmark:
        results("benchmarks/eval/{env}/h{horizon}/{format}/warmstart.tsv")
    params:
        temperature=config["evaluate"]["temperature"],
        max_new_tokens=config["evaluate"]["max_new_tokens"],
        seed=config["evaluate"]["seed"],
    threads: config["evaluate"]["threads"]
    resources:
        mem_mb=config["evaluate"]["mem_mb"],
        gpu=config["evaluate"]["gpu"],
    shell:
        "hiper-repro evaluate --threads {threads} --model {input.model:q} --tasks {input.tasks:q} --format {wildcards.format:q}"
        " --temperature {params.temperature:q} --max-new-tokens {params.max_new_tokens:q}"
        " --seed {params.seed:q} --out {output.result:q} > {log:q} 2>&1"
