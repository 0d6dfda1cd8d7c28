"""Merge every run's traces into one dataset along (method, env, horizon, seed), and cut its evaluation
group out as the small file a study ships with its numbers (evaluation.nc)."""


rule aggregate:
    input:
        done=[f"{run}/done" for run in all_runs()],
    output:
        merged=results("merged/traces.nc"),
        evaluation=results("evaluation.nc"),
    log:
        results("logs/merged/traces.log"),
    benchmark:
        results("benchmarks/merged/traces.tsv")
    params:
        runs=all_runs(),
    shell:
        "hiper-repro aggregate --threads {threads} --runs {params.runs:q} --out {output.merged:q}"
        " --evaluation-out {output.evaluation:q} > {log:q} 2>&1"
