"""The do-nothing progress and cancel callbacks that core functions default to, so a caller
(QGIS, a notebook, a Dask worker) passes only what it has."""


def no_progress(_fraction: float) -> None:
    pass


def never_cancelled() -> bool:
    return False
