"""Statistics from the merged traces: scores, bootstrap CIs, IQM, tests, sample efficiency, variance."""


rule stats:
    input:
        merged="results/merged/traces.nc",
    output:
        stats=report(
            directory("results/stats"),
            patterns=["{name}.csv"],
            caption="../report/stats.rst",
            category="Statistics",
            labels={"table": "{name}"},
        ),
    log:
        "logs/stats/stats.log",
    benchmark:
        "results/benchmarks/stats/stats.tsv"
    params:
        reference=config["stats"]["reference"],
        k=config["stats"]["k"],
        threshold=config["stats"]["threshold"],
        reps=config["stats"]["reps"],
        curve_reps=config["stats"]["curve_reps"],
        variance_reps=config["stats"]["variance_reps"],
        ci=config["stats"]["ci"],
        seed=config["stats"]["seed"],
    threads: config["stats"]["threads"]
    shell:
        "hiper-repro stats --threads {threads} --merged {input.merged:q} --out {output.stats:q} --reference {params.reference:q}"
        " --k {params.k:q} --threshold {params.threshold:q} --reps {params.reps:q}"
        " --curve-reps {params.curve_reps:q} --variance-reps {params.variance_reps:q}"
        " --ci {params.ci:q} --seed {params.seed:q} > {log:q} 2>&1"
