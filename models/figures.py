"""Figures for HTML reports: matplotlib's Agg canvas (no pyplot state), embedded as PNG."""

import base64
import io


def png_base64(figure) -> str:
    """A matplotlib Figure as base64 PNG text for ``<img src='data:image/png;base64,...'>``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
