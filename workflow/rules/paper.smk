"""The manuscript (paper/manuscript.md) filled from pipeline outputs: numbers, figures and tables, and the
re-analysis of the authors' runs."""


rule paper:
    input:
        manuscript="paper/manuscript.md",
        stats=results("stats"),
        figures=results("paper/figures"),
        tables=results("paper/tables"),
        authors=results("authors/analysis"),
    output:
        html=report(
            results("paper/paper.html"),
            caption="../report/paper.rst",
            category="Paper",
        ),
        markdown=results("paper/paper.md"),
    log:
        results("logs/paper/paper.log"),
    params:
        out=lambda w, output: os.path.dirname(output.html),
    shell:
        "hiper-repro paper --threads {threads} --manuscript {input.manuscript:q} --stats {input.stats:q}"
        " --figures {input.figures:q} --tables {input.tables:q} --authors {input.authors:q} --out {params.out:q}"
        " > {log:q} 2>&1"
