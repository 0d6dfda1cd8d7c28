"""Other projects' training logs as datasets: veRL console logs (the HiPER authors' runs) and their analysis.

:func:`read_verl_log` and the merge/storage helpers import numpy and xarray only (no torch, no plotting),
so ``hiper-repro import-verl`` starts fast; :mod:`hiper_repro.external.analysis` adds the statistics.
"""

from hiper_repro.external.runs import authors_logs, load_runs, merge_verl_runs, save_runs, variants
from hiper_repro.external.verl import METHODS, VerlLogError, read_verl_log

__all__ = [
    "METHODS",
    "VerlLogError",
    "authors_logs",
    "load_runs",
    "merge_verl_runs",
    "read_verl_log",
    "save_runs",
    "variants",
]
