"""Statistics from the merged traces: scores, bootstrap CIs, IQM, tests, sample efficiency, variance,
diagnostics, what ran (the runs' configs and the warm-start models they name), and the lab's numbers."""


rule stats:
    input:
        merged=results("merged/traces.nc"),
        theory=results("theory/theory.nc"),
        # read through the traces' model_id, for the models' names and sizes (never their paths)
        models=expand(results("models/{env}/{format}/warmstart"), env=ENVS, format=FORMATS),
    output:
        stats=report(
            directory(results("stats")),
            patterns=["{name}.csv"],
            caption="../report/stats.rst",
            category="Statistical tables",  # not "Statistics": Snakemake names its own panel so
            labels={"table": "{name}"},
        ),
    log:
        results("logs/stats/stats.log"),
    benchmark:
        results("benchmarks/stats/stats.tsv")
    params:
        reference=config["stats"]["reference"],
        k=config["stats"]["k"],
        threshold=config["stats"]["threshold"],
        reps=config["stats"]["reps"],
        curve_reps=config["stats"]["curve_reps"],
        variance_reps=config["stats"]["variance_reps"],
        ci=config["stats"]["ci"],
        seed=config["stats"]["seed"],
        contrasts=config["stats"]["contrasts"],
    threads: config["stats"]["threads"]
    shell:
        "hiper-repro stats --threads {threads} --merged {input.merged:q} --theory {input.theory:q}"
        " --out {output.stats:q} --reference {params.reference:q}"
        " --k {params.k:q} --threshold {params.threshold:q} --reps {params.reps:q}"
        " --curve-reps {params.curve_reps:q} --variance-reps {params.variance_reps:q}"
        " --ci {params.ci:q} --seed {params.seed:q} --contrasts {params.contrasts:q} > {log:q} 2>&1"
