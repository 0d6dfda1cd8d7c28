"""Figure of the training diagnostics: invalid-turn rate, critic quality, update size and switch signal
over training, per method (``hiper-repro stats``' ``diagnostics`` table, see
:mod:`hiper_repro.stats.diagnostics`)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hiper_repro.figures.results import grid
from hiper_repro.figures.style import label, order, palette, require, styled

# Rows of the figure, in this order, with their axis labels.
ROWS = {
    "invalid_turn_rate": "invalid-turn rate",
    "explained_variance_low": "expl. var. V_low (flat: V)",
    "explained_variance_high": "expl. var. V_high",
    "explained_variance_term": "expl. var. V_term",
    "adv_switch_abs": "mean |A_switch|",
    "approx_kl": "KL(old || new), nats",
    "clip_fraction": "clip fraction",
}
SHARES = ("invalid_turn_rate",)  # a share of turns that can be anything: drawn on [0, 1]


@styled
def training_diagnostics(diag: pd.DataFrame) -> Figure:
    """One row per logged diagnostic, one column per (env, horizon): mean over seeds with its 95% band,
    one line per method, against the training iteration. Explained variance has a dotted line at 0 (a
    critic no better than a constant)."""
    require(diag, ["method", "env", "horizon", "iteration", "diagnostic", "estimate", "ci_low", "ci_high"],
            "diagnostics")  # fmt: skip
    rows = [r for r in ROWS if r in set(diag["diagnostic"])]
    if not rows:
        raise ValueError(f"diagnostics: none of {list(ROWS)} in the table")
    cells = sorted({(str(e), int(h)) for e, h in zip(diag["env"], diag["horizon"])})
    fig, axes = grid(len(rows), len(cells), width=2.9, height=1.7, sharex="col")
    colours = palette(diag["method"])
    for r, name in enumerate(rows):
        for c, (env, h) in enumerate(cells):
            ax = axes[r, c]
            sub = diag[(diag["diagnostic"] == name) & (diag["env"] == env) & (diag["horizon"] == h)]
            for m in order(sub["method"]):
                d = sub[sub["method"] == m].sort_values("iteration")
                ax.plot(d["iteration"], d["estimate"], color=colours[m], label=label(m))
                ax.fill_between(d["iteration"], d["ci_low"], d["ci_high"], color=colours[m], alpha=0.2)
            if name.startswith("explained_variance"):
                ax.axhline(0, color="grey", linestyle=":", linewidth=0.8)
            if name in SHARES:
                ax.set_ylim(-0.02, 1.02)
            elif not name.startswith("explained_variance"):
                ax.set_ylim(bottom=0)  # magnitudes: their size is read against 0
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if r == 0:
                ax.set_title(f"{env}, h={h}")
            if c == 0:
                ax.set_ylabel(ROWS[name], fontsize=7)
            if r == len(rows) - 1:
                ax.set_xlabel("training iteration")
    handles: dict = {}
    for ax in axes.flat:  # every method that appears anywhere, once
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(len(handles), 4))
    return fig
