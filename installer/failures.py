"""A failed pip run in plain words: what went wrong and what to do next.

pip's own output ("ResolutionImpossible ... the conflict is caused by", "[Errno 13]") means little
to a GIS analyst. ``explain`` reads pip's output and answers with one short paragraph for the
installer dialog, the Processing tool and ``make deps``; pip's output stays visible for details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (what pip prints, the kind of failure), tried in order: the first match wins.
_SIGNS = (
    ("cancelled", ("Cancelled: pip was stopped",)),
    ("no_pip", ("No module named pip",)),
    ("no_space", ("No space left on device", "[Errno 28]")),
    ("permission", ("Permission denied", "[Errno 13]", "Read-only file system", "[Errno 30]")),
    ("network", ("Failed to establish a new connection", "Name or service not known",
                 "Temporary failure in name resolution", "Network is unreachable",
                 "ConnectTimeoutError", "ReadTimeoutError", "ProxyError", "SSLError",
                 "Connection refused", "nodename nor servname")),
    ("conflict", ("ResolutionImpossible", "conflict is caused by",
                  "have conflicting dependencies")),
    ("not_found", ("No matching distribution found", "Could not find a version that satisfies")),
)


@dataclass(frozen=True)
class Failure:
    kind: str  # one of the kinds in _SIGNS, or "other"
    message: str  # what happened and the next step, in plain words


def explain(output: str, exit_code: int, folder: str = "", pins: list[str] | None = None
            ) -> Failure:
    """Why pip stopped (its merged stdout/stderr ``output``) and what the user can do next.

    ``folder`` is where pip installed to, ``pins`` the versions of QGIS's own packages the
    install was held to (both only make the message concrete)."""
    kind = next((kind for kind, signs in _SIGNS if any(s in output for s in signs)), "other")
    if exit_code == -1 and kind == "other":
        kind = "cancelled"
    pins_text = ", ".join(_pins_in_conflict(output, pins or [])) or \
        "numpy and the other packages QGIS ships"
    messages = {
        "cancelled": "The installation was cancelled; nothing was changed in QGIS. Start it "
                     "again whenever you like.",
        "no_pip": "The Python that QGIS uses has no pip, so nothing could be installed. Next "
                  "step: install pip for it (Debian/Ubuntu: sudo apt install python3-pip; "
                  "Windows: the OSGeo4W installer's python3-pip package), then try again.",
        "no_space": "The disk is full. Next step: free some space (the full set with PyTorch "
                    "needs about 2 GB; the ONNX set about 300 MB), or choose an install folder "
                    "on another disk, then try again.",
        "permission": f"pip could not write to the install folder {folder}. Next step: choose "
                      "a folder you can write to (the default inside your QGIS profile "
                      "always is), then try again.",
        "network": "pip could not reach the package index: no internet connection, or a proxy "
                   "or firewall in the way. Next step: connect and try again; behind a proxy, "
                   "set HTTPS_PROXY before starting QGIS; without internet, download the wheel "
                   "files on another machine and use Advanced: offline wheels.",
        "conflict": "pip found no versions of these packages that work with the ones QGIS "
                    f"ships, which are kept as they are so QGIS keeps working ({pins_text}). "
                    "Next step: choose 'onnxruntime only, for ONNX models', which needs fewer "
                    "packages, or install a newer QGIS.",
        "not_found": "Some package has no version for this Python or operating system"
                     f"{_names(output)}. Next step: choose 'onnxruntime only, for ONNX "
                     "models', or check the package's page on pypi.org for the versions it "
                     "offers.",
        "other": f"pip stopped with exit code {exit_code}. Its last lines above say why. Next "
                 "step: try 'onnxruntime only, for ONNX models', or copy pip's output into an "
                 "issue on the plugin's tracker.",
    }
    return Failure(kind, messages[kind])


def _pins_in_conflict(output: str, pins: list[str]) -> list[str]:
    """The pins pip names in its conflict report (usually numpy's), else all of them."""
    conflict = output.split("conflict is caused by", 1)[-1].lower()
    named = [pin for pin in pins if re.split(r"[=<>!~ ]", pin, 1)[0].lower() in conflict]
    return named or pins


def _names(output: str) -> str:
    names = sorted(set(re.findall(r"No matching distribution found for ([A-Za-z0-9._-]+)",
                                  output)))
    return f" ({', '.join(names)})" if names else ""
