"""HiPER's published numbers (arXiv 2602.16165, mean of 3 seeds), as docs/METHOD.md section 6 summarises them.

Data only (imports nothing from the package), so the tables of our study (:mod:`hiper_repro.figures.tables`)
and the re-analysis of the authors' runs (:mod:`hiper_repro.external.report`) read the same numbers.
"""

from __future__ import annotations

import pandas as pd

# (setting, model, metric, method) -> published success or score in percent.
PUBLISHED = pd.DataFrame(
    [
        (setting, model, metric, method, value)
        for setting, model, metric, values in [
            ("ALFWorld", "Qwen2.5-1.5B-Instruct", "success", (95.3, 86.7, 71.1, 68.2)),
            ("WebShop", "Qwen2.5-1.5B-Instruct", "score", (85.7, 83.5, 75.8, 73.8)),
            ("WebShop", "Qwen2.5-1.5B-Instruct", "success", (71.4, 67.4, 56.8, 51.5)),
            ("ALFWorld", "Qwen2.5-7B-Instruct", "success", (97.4, 90.8, 85.4, 82.8)),
            ("WebShop", "Qwen2.5-7B-Instruct", "score", (92.2, 86.2, 79.3, 81.4)),
            ("WebShop", "Qwen2.5-7B-Instruct", "success", (83.3, 75.2, 66.1, 68.7)),
        ]
        for method, value in zip(("hiper", "gigpo", "grpo", "ppo"), values)
    ]
    + [("ALFWorld", "Qwen2.5-1.5B-Instruct", "success", "ppo-pe", 81.3)],  # ablation: plan-execute + flat GAE
    columns=["setting", "model", "metric", "method", "value"],
)
# The training budget behind those numbers (the authors' scripts).
PUBLISHED_BUDGET = {"iterations": 150, "episodes_per_iteration": 128, "seeds": 3, "max_turns": 50}
