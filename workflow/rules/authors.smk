"""The HiPER authors' own GPU runs: their veRL console logs imported, then re-analysed for the paper."""

if config["authors"]["claim_threshold"] not in config["authors"]["thresholds"]:
    raise WorkflowError(
        f"invalid config at authors.claim_threshold: {config['authors']['claim_threshold']} is not one of"
        f" authors.thresholds {config['authors']['thresholds']}"
    )


rule import_verl:
    input:
        logs=config["authors"]["logs"],
    output:
        runs=directory(results("authors/runs")),
    log:
        results("logs/authors/import_verl.log"),
    shell:
        "hiper-repro import-verl --threads {threads} {input.logs:q} --out {output.runs:q} > {log:q} 2>&1"


rule analyse_verl:
    input:
        runs=results("authors/runs"),
    output:
        analysis=report(
            directory(results("authors/analysis")),
            patterns=["figures/{name}.png"],
            caption="../report/authors.rst",
            category="The authors' runs",
            labels={"figure": "{name}"},
        ),
    log:
        results("logs/authors/analyse_verl.log"),
    benchmark:
        results("benchmarks/authors/analyse_verl.tsv")
    params:
        merged=lambda w, input: os.path.join(input.runs, "merged.nc"),
        thresholds=config["authors"]["thresholds"],
        claim_threshold=config["authors"]["claim_threshold"],
        k=config["authors"]["k"],
        reps=config["authors"]["reps"],
        ci=config["stats"]["ci"],
        seed=config["authors"]["seed"],
    shell:
        "hiper-repro analyse-verl --threads {threads} --merged {params.merged:q} --out {output.analysis:q}"
        " --thresholds {params.thresholds:q} --claim-threshold {params.claim_threshold:q} --k {params.k:q}"
        " --reps {params.reps:q} --ci {params.ci:q} --seed {params.seed:q} > {log:q} 2>&1"
