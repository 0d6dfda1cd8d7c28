"""hiper-repro: HiPER (hierarchical advantage estimation) vs flat baselines, from task splits to the paper.

    snakemake --cores 2                                   # quick preset (config/config.yaml)
    snakemake --cores 2 --config preset=smoke             # any preset in config/presets/
    snakemake --profile profiles/slurm --config preset=gpu
    snakemake --report report.html                        # figures and tables as one HTML file

Steps, in pipeline order, one rules file each: tasks -> models -> warmstart -> train -> evaluate ->
theory -> aggregate -> stats -> figures -> paper; beside them, authors (the HiPER authors' own logs,
imported and re-analysed for the paper). Every rule calls the `hiper-repro` CLI.
"""

from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/tasks.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/warmstart.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/authors.smk"
include: "workflow/rules/paper.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        results("paper/paper.html"),
        expand(results("eval/{env}/h{horizon}/{format}/warmstart.json"), env=ENVS, horizon=HORIZONS, format=FORMATS),
    default_target: True
