"""rsai:install_dependencies given hostile PACKAGES, and installs that fail, are killed or
leave half a folder: real pip, offline, with wheels built here (--no-index --find-links)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsai_toolbox.installer import dependencies
from rsai_toolbox.models.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qgis"))
from desktop_support import make_wheel  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def wheels(tmp_path):
    folder = tmp_path / "wheels"
    make_wheel(folder, "rsai_demo_good", "1.0.0", "VALUE = 1\n")
    make_wheel(folder, "rsai_demo_good", "2.0.0", "VALUE = 2\n")
    make_wheel(folder, "rsai_demo_broken", "1.0.0", "raise ImportError('broken on purpose')\n")
    return folder


@pytest.fixture
def clean_path(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [n for n in sys.modules if n.startswith("rsai_demo")]:
        del sys.modules[name]


def install(folder, wheels, *packages, log=None):
    plan = dependencies.make_plan("cpu", list(packages), folder, find_links=[str(wheels)],
                                  no_index=True)
    lines = [] if log is None else log
    return dependencies.run(plan, lines.append), plan, lines


def installed_version(folder) -> str:
    """Which wheel's module is in the folder (pip --target keeps old dist-info folders)."""
    value = (Path(folder) / "rsai_demo_good" / "__init__.py").read_text().split("=")[1]
    return f"{value.strip()}.0.0"


@pytest.mark.parametrize("packages, problem", [
    ("--target /tmp/elsewhere numpy", "'--target' is a pip option"),
    ("-r requirements.txt", "'-r' is a pip option"),
    ("--index-url=https://evil.example/simple numpy", "is a pip option"),
    ("-e .", "is a pip option"),
    ("numpy --no-deps", "'--no-deps' is a pip option"),
    ("rsai-demo-good@https://evil.example/x.whl", "points at a URL"),
    ("numpy>=", "is not a package requirement"),
    ("numpy;rm -rf", "is not a package requirement"),
])
def test_hostile_packages_are_refused_before_pip_runs(refused, work, tmp_path, packages,
                                                      problem):
    elsewhere = tmp_path / "elsewhere"
    message = refused("install_dependencies", {
        "TARGET": 0, "PACKAGES": packages.replace("/tmp/elsewhere", str(elsewhere)),
        "FOLDER": str(work / "deps"), "NO_INDEX": True}, problem, "package names only|"
        "write it like 'name'|give a package name")
    assert not elsewhere.exists() and not (work / "deps").exists()
    assert "Traceback" not in message


def test_a_good_install_is_checked_marked_and_activated(tmp_path, wheels, clean_path):
    folder = tmp_path / "deps"
    code, plan, lines = install(folder, wheels, "rsai-demo-good==1.0.0")
    assert code == 0, "\n".join(lines)
    assert "--only-binary=:all:" in plan.command()
    assert dependencies.is_complete(folder) and not plan.staging.exists()
    assert str(folder) in sys.path
    import rsai_demo_good
    assert rsai_demo_good.VALUE == 1


def test_a_package_that_does_not_import_keeps_the_previous_folder(tmp_path, wheels,
                                                                  clean_path):
    folder = tmp_path / "deps"
    assert install(folder, wheels, "rsai-demo-good==1.0.0")[0] == 0
    with pytest.raises(UserError, match="do not import.*broken on purpose.*previous packages"):
        install(folder, wheels, "rsai-demo-broken")
    assert dependencies.is_complete(folder) and installed_version(folder) == "1.0.0"
    assert not (folder / "rsai_demo_broken").exists()
    assert not (tmp_path / "deps.staging").exists()


def test_a_failed_pip_run_keeps_the_previous_folder(tmp_path, wheels, clean_path):
    folder = tmp_path / "deps"
    assert install(folder, wheels, "rsai-demo-good==1.0.0")[0] == 0
    code, _, _ = install(folder, wheels, "rsai-demo-good==9.9")  # no such wheel
    assert code != 0
    assert dependencies.is_complete(folder) and installed_version(folder) == "1.0.0"
    assert not (tmp_path / "deps.staging").exists()


KILLED_INSTALL = """
import sys
sys.path.insert(0, sys.argv[1])
from rsai_toolbox.installer import dependencies
plan = dependencies.make_plan("cpu", ["rsai-demo-good==2.0.0"], sys.argv[2],
                              find_links=[sys.argv[3]], no_index=True)
dependencies.run(plan, print)
"""


def test_a_killed_install_leaves_the_previous_folder_in_use(tmp_path, wheels, clean_path):
    folder = tmp_path / "deps"
    assert install(folder, wheels, "rsai-demo-good==1.0.0")[0] == 0
    staging = tmp_path / "deps.staging"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_INSTALL, str(REPO / "build" / "plugins"), str(folder),
         str(wheels)], start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not staging.exists() and time.time() < deadline:
        time.sleep(0.01)
    assert staging.exists(), "the install never started"
    os.killpg(process.pid, signal.SIGKILL)  # QGIS killed mid-install, pip with it
    process.wait()
    time.sleep(0.5)
    assert dependencies.is_complete(folder) and installed_version(folder) == "1.0.0"
    assert dependencies.activate(folder) == folder
    # the next install starts from a clean staging folder and succeeds
    code, plan, lines = install(folder, wheels, "rsai-demo-good==2.0.0")
    assert code == 0, "\n".join(lines)
    assert installed_version(folder) == "2.0.0" and not staging.exists()


def test_a_folder_without_the_marker_is_never_put_on_the_path(tmp_path, clean_path):
    half = tmp_path / "deps"
    (half / "rsai_demo_half").mkdir(parents=True)
    (half / "rsai_demo_half" / "__init__.py").write_text("X = 1\n")
    assert dependencies.activate(half) is None and str(half) not in sys.path
    (half / dependencies.MARKER).write_text("{}")
    assert dependencies.activate(half) == half and str(half) in sys.path


def test_killed_between_the_two_renames_the_previous_folder_comes_back(tmp_path, wheels,
                                                                       clean_path):
    folder = tmp_path / "deps"
    assert install(folder, wheels, "rsai-demo-good==1.0.0")[0] == 0
    os.replace(folder, tmp_path / "deps.previous")  # the first rename happened, then a kill
    code, _, lines = install(folder, wheels, "rsai-demo-good==2.0.0")
    assert code == 0, "\n".join(lines)
    assert installed_version(folder) == "2.0.0" and not (tmp_path / "deps.previous").exists()


def test_index_credentials_are_never_logged(tmp_path, wheels, clean_path):
    plan = dependencies.make_plan("cpu", ["rsai-demo-good"], tmp_path / "deps",
                                  index_url="https://alice:s3cr3t-token@127.0.0.1:9/simple",
                                  extra_index_urls=["https://tok_abc@127.0.0.1:9/x"],
                                  find_links=[str(wheels)], no_index=True)
    lines = []
    assert dependencies.run(plan, lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "s3cr3t-token" not in text and "tok_abc" not in text and "***@127.0.0.1" in text
