"""The plugin's own Python packages (onnxruntime, torch, ...): find what is missing, install it
into a folder the plugin owns with pip run by QGIS's real Python interpreter, and put that
folder on ``sys.path`` before anything imports from it.

Why a folder of our own: QGIS's Python belongs to the QGIS installation (OSGeo4W, the macOS
bundle, the distribution); installing into it can break QGIS and needs admin rights. The folder
lives in the QGIS profile, one per Python minor version (``<profile>/rsai/deps/py311``), and is
appended to ``sys.path`` so the packages QGIS ships keep precedence. Those packages are also
pinned at their installed versions in a constraints file passed to pip (``pip --target`` ignores
what is installed, so without the pins it would pull another numpy next to QGIS's).

Two sets can be installed: everything (``requirements/runtime.txt``) or the small ONNX set
(``requirements/onnx.txt``: onnxruntime, huggingface_hub, ...), which is what most tools need.

An install never leaves a half-made folder on ``sys.path``: pip installs into a staging copy
(``<folder>.staging``, hard links of the current folder), the new packages are imported in a
child Python, and only then is the staging folder swapped into place with a completion marker
(``.rsai-complete``) inside. ``activate`` puts a folder on ``sys.path`` only when its marker is
there, so a failed, cancelled or killed install leaves the previous folder in use. Package
entries given by a user are checked as requirements (never pip options), wheels only.

No QGIS import and no GUI here: the dialog, the Processing tool ``rsai:install_dependencies``
and ``make deps`` (scripts/deps.py) all use these functions.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import os
import re
import shutil
# pip runs as a child process: argument lists only, never a shell.
import subprocess  # nosec B404
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..models.errors import UserError
from ..models.runtime.devices import nvidia_driver

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS_DIR = PLUGIN_ROOT / "requirements"
RUNTIME_REQUIREMENTS = REQUIREMENTS_DIR / "runtime.txt"
# The sets a user can choose, by name: requirements file and what it is for, in words.
FULL, ONNX_ONLY = "full", "onnx"
SETS = {FULL: ("runtime.txt", "everything, PyTorch included (large)"),
        ONNX_ONLY: ("onnx.txt", "onnxruntime only, for ONNX models (small)")}
DEPS_ENV = "RSAI_DEPS_DIR"  # overrides the folder (tests, shared installs)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU, CUDA = "cpu", "cuda"
VARIANTS = (CPU, CUDA)
# Packages QGIS installers ship, kept at the installed version: above all the compiled ones,
# whose ABI wheels built for another numpy would break (the folder is appended to sys.path, so
# QGIS's copies win anyway; the pins make pip choose wheels that work with them).
QGIS_SHIPPED = ("numpy", "scipy", "pandas", "matplotlib", "Pillow", "PyYAML", "Jinja2",
                "MarkupSafe", "requests", "urllib3", "pyproj", "shapely", "GDAL", "lxml",
                "psycopg2")
# torch wheels whose CPU build the PyTorch CPU index names with a "+cpu" local version.
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
MARKER = ".rsai-complete"  # written last into a folder whose packages imported
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


# -- where the packages go ---------------------------------------------------------------------
def profile_dir() -> Path:
    """The active QGIS profile folder; outside QGIS, the default profile's usual place."""
    try:
        from qgis.core import QgsApplication
        configured = QgsApplication.qgisSettingsDirPath()
    except ImportError:
        configured = ""
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "QGIS" / "QGIS3" / "profiles" / "default"


def default_folder() -> Path:
    """``$RSAI_DEPS_DIR``, else ``<profile>/rsai/deps/py<major><minor>``."""
    if os.environ.get(DEPS_ENV):
        return Path(os.environ[DEPS_ENV])
    return profile_dir() / "rsai" / "deps" / f"py{sys.version_info[0]}{sys.version_info[1]}"


def activate(folder: str | os.PathLike | None = None) -> Path | None:
    """Append the packages folder to ``sys.path`` (once) when it exists; returns it or None.

    Called by the plugin before anything imports torch/onnxruntime (classFactory and
    initProcessing), and after an install so the new packages import without a restart.
    """
    path = Path(folder) if folder is not None else default_folder()
    if not is_complete(path):
        return None
    text = str(path)
    if text not in sys.path:
        sys.path.append(text)
    importlib.invalidate_caches()
    return path


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a finished install (its completion marker)."""
    return (Path(folder) / MARKER).is_file()


def redact(text: str) -> str:
    """``https://user:token@host/simple`` -> ``https://***@host/simple``, for logs."""
    return _CREDENTIALS.sub(lambda m: m["scheme"] + "***@", text)


def validate_packages(entries: Iterable[str]) -> list[str]:
    """Package entries a user typed, each checked as a requirement (``name``, ``name>=1.2``,
    ``name[extra]==2; python_version>'3.9'``); pip options (``--target``, ``-r file``) and
    direct URLs are refused, so the entries can only name packages."""
    from packaging.requirements import InvalidRequirement, Requirement
    checked = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        if entry.startswith("-"):
            raise UserError(f"PACKAGES: {entry!r} is a pip option, not a package; give package "
                            "names only (e.g. 'onnxruntime>=1.16 timm'), options are not passed "
                            "to pip.")
        try:
            requirement = Requirement(entry)
        except InvalidRequirement as exc:
            raise UserError(f"PACKAGES: {entry!r} is not a package requirement ({exc}); write "
                            "it like 'name' or 'name>=1.2', separated by spaces.") from None
        if requirement.url:
            raise UserError(f"PACKAGES: {entry!r} points at a URL; give a package name and "
                            "version (wheels come from the package index or FIND_LINKS).")
        checked.append(entry)
    return checked


# -- what is missing ---------------------------------------------------------------------------
def requirement_name(line: str) -> str | None:
    """``"torch==2.4; sys_platform != 'darwin'"`` -> ``"torch"``; comments and blanks -> None."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _NAME.match(line)
    return match.group(1) if match else None


def canonical_name(name: str) -> str:
    """``Huggingface_Hub`` -> ``huggingface-hub`` (how pip compares distribution names)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def set_file(name: str) -> Path:
    """The requirements file of the set ``name`` (FULL or ONNX_ONLY)."""
    if name not in SETS:
        raise UserError(f"unknown package set {name!r}; choose one of {', '.join(SETS)}")
    return REQUIREMENTS_DIR / SETS[name][0]


def read_requirements(path: str | os.PathLike | None = None) -> list[str]:
    """The requirement lines of a requirements file (default: the runtime ones), following
    ``-r other.txt`` includes."""
    path = Path(path or RUNTIME_REQUIREMENTS)
    requirements = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            requirements += read_requirements(path.parent / line.split(None, 1)[1])
        elif requirement_name(line):
            requirements.append(line)
    return requirements


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Status:
    requirement: str
    name: str
    installed: str | None  # installed version, None when missing
    satisfied: bool

    def describe(self) -> str:
        if self.installed is None:
            return f"{self.requirement}: missing"
        state = "ok" if self.satisfied else "wrong version"
        return f"{self.requirement}: {self.installed} ({state})"


def check(requirements: Iterable[str] | None = None) -> list[Status]:
    """Each requirement with its installed version (on the current ``sys.path``)."""
    requirements = read_requirements() if requirements is None else list(requirements)
    statuses = []
    for requirement in requirements:
        name = requirement_name(requirement)
        if name is None:
            continue
        version = installed_version(name)
        statuses.append(Status(requirement, name, version,
                               version is not None and _satisfies(requirement, version)))
    return statuses


def missing(requirements: Iterable[str] | None = None) -> list[str]:
    """Requirements that are not installed or not at a matching version."""
    return [s.requirement for s in check(requirements) if not s.satisfied]


def missing_packages(names: Iterable[str]) -> list[str]:
    """Which of the packages ``names`` are missing, each checked against its line in the
    requirements (``torch`` against ``torch==2.x``) when it has one."""
    lines = {canonical_name(requirement_name(line)): line for line in read_requirements()}
    return [name for name in names
            if missing([lines.get(canonical_name(name), name)])]


def _satisfies(requirement: str, version: str) -> bool:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no packaging: presence is all we can check
        return True
    try:
        parsed = Requirement(requirement)
    except Exception:  # an unparsable line: presence is all we can check
        return True
    if parsed.marker is not None and not parsed.marker.evaluate():
        return True
    return parsed.specifier.contains(version, prereleases=True)


# -- how to install ----------------------------------------------------------------------------
def constraints_for_installed(names: Iterable[str] = QGIS_SHIPPED) -> list[str]:
    """``name==version`` for each of ``names`` installed here (pins QGIS's numpy & co.)."""
    pins = []
    for name in names:
        version = installed_version(name)
        if version is not None:
            pins.append(f"{name}=={version}")
    return pins


def find_python(executable: str | None = None, base_prefix: str | None = None,
                exec_prefix: str | None = None, platform: str | None = None) -> str | None:
    """The Python interpreter that runs QGIS's Python, to run pip with.

    Inside QGIS ``sys.executable`` is the QGIS binary (qgis, qgis-bin.exe, qgis_process), not
    Python. Where to look instead:
    - Windows (OSGeo4W and the standalone installer): ``python.exe`` in ``sys.exec_prefix``
      (``...\\apps\\Python3x``), else next to the QGIS executable.
    - macOS (QGIS.app): ``<sys.exec_prefix>/bin/python3``, else ``QGIS.app/Contents/MacOS/bin``.
    - Linux: ``<sys.base_prefix>/bin/python3.X`` (the distribution's /usr/bin/python3.X), else
      ``python3.X`` / ``python3`` on PATH.
    Only an interpreter of the same major.minor version is returned (its packages must import
    into QGIS's Python).
    """
    executable = sys.executable if executable is None else executable
    base_prefix = sys.base_prefix if base_prefix is None else base_prefix
    exec_prefix = sys.exec_prefix if exec_prefix is None else exec_prefix
    platform = sys.platform if platform is None else platform
    major, minor = sys.version_info[:2]
    candidates = []
    # Embedded Python (QGIS) may set sys.executable to whatever "python3" is first on PATH (a
    # pyenv shim, another installation): trust it only inside this interpreter's prefixes.
    prefixes = {Path(p) for p in (sys.prefix, exec_prefix, base_prefix)}
    if (executable and Path(executable).name.lower().startswith("python")
            and {Path(executable).parent, Path(executable).parent.parent} & prefixes):
        candidates.append(Path(executable))
    if platform == "win32":
        candidates += [Path(exec_prefix) / "python.exe", Path(base_prefix) / "python.exe",
                       Path(executable).parent / "python.exe",
                       Path(executable).parent / f"python{major}.exe"]
    else:
        for prefix in (exec_prefix, base_prefix):
            candidates += [Path(prefix) / "bin" / f"python{major}.{minor}",
                           Path(prefix) / "bin" / f"python{major}"]
        if platform == "darwin":
            candidates.append(Path(executable).parent / "bin" / f"python{major}")
        for name in (f"python{major}.{minor}", f"python{major}"):
            found = shutil.which(name)
            if found:
                candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK) and _same_version(candidate):
            return str(candidate)
    return None


def _same_version(python: Path) -> bool:
    if str(python) == sys.executable:
        return True
    try:
        out = subprocess.run(  # nosec B603
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == "%d.%d" % sys.version_info[:2]


@dataclass
class InstallPlan:
    """One ``pip install --target`` run: everything the dialog, the tool and make deps run."""

    python: str
    folder: Path
    packages: list[str]
    constraints: list[str]
    variant: str = CPU
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False

    @property
    def constraints_file(self) -> Path:
        return self.folder.with_name(self.folder.name + "-constraints.txt")

    @property
    def staging(self) -> Path:
        """Where pip installs; swapped into ``folder`` once the imports work."""
        return self.folder.with_name(self.folder.name + ".staging")

    @property
    def previous(self) -> Path:
        return self.folder.with_name(self.folder.name + ".previous")

    def write_constraints(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.constraints_file.write_text("\n".join(self.constraints) + "\n", encoding="utf-8")
        return self.constraints_file

    def command(self) -> list[str]:
        args = [self.python, "-m", "pip", "install", "--disable-pip-version-check",
                "--no-input", "--upgrade", "--only-binary=:all:", "--target", str(self.staging),
                "-c", str(self.constraints_file)]
        if self.no_index:
            args.append("--no-index")
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args + ["--"] + list(self.packages)

    def shown_command(self) -> str:
        """The command for logs, index credentials hidden."""
        return redact(" ".join(self.command()))

    def environment(self) -> dict[str, str]:
        """The child's environment: QGIS's variables minus what would mislead pip."""
        env = dict(os.environ)
        for name in ("PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "VIRTUAL_ENV"):
            env.pop(name, None)
        env["PYTHONNOUSERSITE"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        return env


def make_plan(variant: str = CPU, packages: Iterable[str] | None = None,
              folder: str | os.PathLike | None = None, python: str | None = None,
              index_url: str | None = None, extra_index_urls: Iterable[str] = (),
              find_links: Iterable[str] = (), no_index: bool = False,
              reinstall: bool = False, package_set: str = FULL) -> InstallPlan:
    """The install for ``variant`` (cpu or cuda).

    ``packages`` None means the requirements of ``package_set`` (FULL or ONNX_ONLY) that are
    missing (all of them with ``reinstall``). CPU: torch comes from the PyTorch CPU index
    (pinned to its ``+cpu`` build when the requirement pins a version), everything else from
    the default index. The CPU index is an *extra* index of the same pip run rather than a separate ``--index-url`` run, because
    ``pip --target`` ignores what is installed: a second run would pull PyPI's CUDA torch back
    in as a dependency of timm or torchvision. CUDA: PyPI's Linux torch wheels are CUDA builds;
    onnxruntime becomes onnxruntime-gpu. (Windows CUDA torch lives on PyTorch's cu12x index:
    pass it as ``index_url``.)
    """
    if variant not in VARIANTS:
        raise UserError(f"unknown target {variant!r}; choose one of {VARIANTS}")
    python = python or find_python()
    if python is None:
        raise UserError(
            "could not find the Python interpreter QGIS runs on (needed to run pip). On Linux "
            "install python3 and python3-pip from the distribution; on Windows use the OSGeo4W "
            "shell's python.")
    if packages is None:
        wanted = read_requirements(set_file(package_set))
        packages = wanted if reinstall else missing(wanted)
    packages = [_for_variant(p, variant) for p in validate_packages(packages)]
    constraints = constraints_for_installed()
    extra = list(extra_index_urls)
    if variant == CPU and not no_index and not index_url and any(
            requirement_name(p) in TORCH_PACKAGES for p in packages):
        extra.append(TORCH_CPU_INDEX)
        if sys.platform != "darwin":
            constraints += [c for c in map(_cpu_pin, packages) if c]
    return InstallPlan(python=python, folder=Path(folder) if folder else default_folder(),
                       packages=packages, constraints=constraints, variant=variant,
                       index_url=index_url or None, extra_index_urls=extra,
                       find_links=list(find_links), no_index=no_index)


def _for_variant(requirement: str, variant: str) -> str:
    if variant == CUDA and requirement_name(requirement) == "onnxruntime":
        return "onnxruntime-gpu" + requirement[len("onnxruntime"):]
    return requirement


def _cpu_pin(requirement: str) -> str | None:
    """``torch==2.4.1`` -> ``torch==2.4.1+cpu`` (only the CPU index has that build)."""
    match = re.match(r"^\s*(torch|torchvision|torchaudio)\s*==\s*([0-9][0-9.]*)\s*$", requirement)
    return f"{match.group(1)}=={match.group(2)}+cpu" if match else None


def run(plan: InstallPlan, log: Callable[[str], None] = print,
        is_cancelled: Callable[[], bool] = lambda: False) -> int:
    """Run the plan, streaming pip's output line by line; returns pip's exit code.

    Cancelling terminates pip (what it had not moved into the folder yet is left in its own
    temporary directory, which it removes). Used headless; the dialog uses QProcess instead.
    """
    if not plan.packages:
        log("Nothing to install: every requirement is satisfied.")
        return 0
    plan.write_constraints()
    stage(plan)
    log("Running: " + plan.shown_command())
    process = subprocess.Popen(  # nosec B603
        plan.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        encoding="utf-8", errors="replace", env=plan.environment(), bufsize=1)
    import threading

    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(
        iter(process.stdout.readline, "")), daemon=True)
    # Read in a thread so cancelling does not wait for pip to print.
    reader.start()
    shown = 0
    while process.poll() is None or reader.is_alive() or shown < len(lines):
        if is_cancelled() and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log("Cancelled: pip was stopped.")
            return -1
        while shown < len(lines):
            log(redact(lines[shown].rstrip()))
            shown += 1
        reader.join(timeout=0.1)
    if process.returncode != 0:
        discard(plan)
        return process.returncode
    commit(plan, log)
    return 0


def stage(plan: InstallPlan) -> Path:
    """A fresh staging folder holding the current install (hard links where the disk allows,
    so even a large folder is staged in moments); leftovers of a killed install go first."""
    discard(plan)
    if plan.previous.is_dir() and not plan.folder.exists():  # killed between the two renames
        os.replace(plan.previous, plan.folder)
    shutil.rmtree(plan.previous, ignore_errors=True)
    if is_complete(plan.folder):
        try:
            shutil.copytree(plan.folder, plan.staging, copy_function=os.link, symlinks=True)
        except OSError:
            shutil.rmtree(plan.staging, ignore_errors=True)
            shutil.copytree(plan.folder, plan.staging, symlinks=True)
        (plan.staging / MARKER).unlink()
    else:
        plan.staging.mkdir(parents=True)
    return plan.staging


def discard(plan: InstallPlan) -> None:
    """Remove the staging folder (a failed, cancelled or killed install)."""
    shutil.rmtree(plan.staging, ignore_errors=True)


def commit(plan: InstallPlan, log: Callable[[str], None] = print) -> None:
    """Import the new packages in a child Python; if they import, mark the staging folder
    complete and swap it into place, else discard it and raise UserError (the previous folder
    stays in use)."""
    failure = import_failure(plan)
    if failure:
        discard(plan)
        raise UserError(f"the installed packages do not import ({failure}); the previous "
                        f"packages in {plan.folder} are kept. Check the versions asked for, "
                        "or install the whole set again.")
    (plan.staging / MARKER).write_text(json.dumps(
        {"packages": plan.packages, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}),
        encoding="utf-8")
    if plan.folder.exists():
        os.replace(plan.folder, plan.previous)
    os.replace(plan.staging, plan.folder)
    shutil.rmtree(plan.previous, ignore_errors=True)
    log(f"Installed and checked: {', '.join(plan.packages)} in {plan.folder}")
    activate(plan.folder)


_IMPORT_CHECK = """
import importlib, importlib.metadata as md, re, sys
folder, names = sys.argv[1], sys.argv[2:]
sys.path.insert(0, folder)
canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
wanted = {canon(n) for n in names}
for dist in md.distributions(path=[folder]):
    if canon(dist.metadata["Name"]) not in wanted:
        continue
    top = (dist.read_text("top_level.txt") or "").split()
    if not top:
        top = sorted({str(f).split("/")[0].removesuffix(".py") for f in dist.files or []
                      if str(f).endswith(".py") and ".dist-info" not in str(f)
                      and not str(f).startswith("..")})
    for module in top:
        if module and not module.startswith("_"):
            importlib.import_module(module)
"""


def import_failure(plan: InstallPlan) -> str | None:
    """None when every package of the plan imports from the staging folder in a child Python
    (beside the packages QGIS ships), else the error it printed."""
    names = [n for n in map(requirement_name, plan.packages) if n]
    try:
        done = subprocess.run(  # nosec B603
            [plan.python, "-c", _IMPORT_CHECK, str(plan.staging), *names],
            capture_output=True, text=True, timeout=600, env=plan.environment(), check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def main(argv: list[str] | None = None) -> int:
    """``python3 scripts/deps.py [--set full|onnx] [--variant cpu|cuda] [--folder F] [pip options]
    [packages]``."""
    import argparse

    from .failures import explain

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="package_set", choices=SETS, default=FULL,
                        help="; ".join(f"{name}: {what}" for name, (_, what) in SETS.items()))
    parser.add_argument("--variant", choices=VARIANTS,
                        default=CUDA if nvidia_driver() else CPU)
    parser.add_argument("--folder", default=None, help=f"default: {default_folder()}")
    parser.add_argument("--find-links", action="append", default=[])
    parser.add_argument("--index-url")
    parser.add_argument("--extra-index-url", action="append", default=[])
    parser.add_argument("--no-index", action="store_true")
    parser.add_argument("--reinstall", action="store_true",
                        help="install every requirement of the set, not only the missing ones")
    parser.add_argument("--print-constraints", action="store_true",
                        help="only print name==version for the packages QGIS ships")
    parser.add_argument("packages", nargs="*", help="default: the missing requirements of --set")
    args = parser.parse_args(argv)
    if args.print_constraints:
        print("\n".join(constraints_for_installed()))
        return 0
    activate(args.folder)
    plan = make_plan(args.variant, args.packages or None, args.folder,
                     index_url=args.index_url, extra_index_urls=args.extra_index_url,
                     find_links=args.find_links, no_index=args.no_index,
                     reinstall=args.reinstall, package_set=args.package_set)
    print(f"Installing into {plan.folder} with {plan.python}")
    lines: list[str] = []
    try:
        code = run(plan, lambda line: (print(line), lines.append(line)))
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 1
    if code != 0:
        print(explain("\n".join(lines), code, str(plan.folder), plan.constraints).message,
              file=sys.stderr)
    return code
