"""Run one core tool (models/tools.py) over many scenes on Dask's distributed scheduler.

One scene is one task; a manifest in the output folder records what made each output, so a
re-run skips finished scenes and retries failed ones. Workers run only this framework-free core
(no QGIS). ``python -m models.batch`` (scripts/rsai-batch) is the command line; the Processing
tool rsai:batch_run calls ``run_batch`` too.
"""

from .runner import BatchSpec, BatchSummary, run_batch  # noqa: F401
