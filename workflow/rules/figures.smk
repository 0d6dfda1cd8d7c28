"""Every figure and table of the paper, from the merged traces, the statistics and the theory lab."""


rule figures:
    input:
        merged=results("merged/traces.nc"),
        theory=results("theory/theory.nc"),
        stats=results("stats"),
    output:
        figures=report(
            directory(results("paper/figures")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        tables=report(
            directory(results("paper/tables")),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        results("logs/figures/figures.log"),
    benchmark:
        results("benchmarks/figures/figures.tsv")
    params:
        reference=config["stats"]["reference"],
    shell:
        "hiper-repro figures --threads {threads} --merged {input.merged:q} --theory {input.theory:q} --stats {input.stats:q}"
        " --out {output.figures:q} --tables {output.tables:q} --reference {params.reference:q} > {log:q} 2>&1"
