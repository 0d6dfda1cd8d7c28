"""Exact-gradient lab: bias and variance of HAE vs flat GAE on tabular hierarchical MDPs (no models)."""


rule theory:
    output:
        theory=results("theory/theory.nc"),
    log:
        results("logs/theory/theory.log"),
    benchmark:
        results("benchmarks/theory/theory.tsv")
    params:
        out=lambda w, output: os.path.dirname(output.theory),
        grid=config["theory"]["grid"],
        seed=config["theory"]["seed"],
    threads: config["theory"]["threads"]
    shell:
        "hiper-repro theory --threads {threads} --out {params.out:q} --grid {params.grid:q} --seed {params.seed:q} > {log:q} 2>&1"
