"""The provider's settings (Options > Processing > Providers > Remote Sensing AI Toolbox).

Each setting falls back to an environment variable, so headless runs and tests can point the
cache elsewhere without touching the user's profile.
"""

import os
from pathlib import Path

from qgis.core import QgsApplication
from processing.core.ProcessingConfig import ProcessingConfig, Setting

from ..models.hub import WeightsStore
from ..models.runtime.backends import DEVICES

GROUP = "Remote Sensing AI Toolbox"
DEVICE = "RSAI_DEVICE"
CACHE_DIR = "RSAI_CACHE_DIR"
OFFLINE = "RSAI_OFFLINE"


def register() -> None:
    ProcessingConfig.addSetting(Setting(
        GROUP, DEVICE, "Default device for models (auto picks a GPU when there is one)",
        DEVICES[0], valuetype=Setting.SELECTION, options=list(DEVICES)))
    ProcessingConfig.addSetting(Setting(
        GROUP, CACHE_DIR, "Weights cache folder (empty: inside the QGIS profile)", "",
        valuetype=Setting.FOLDER))
    ProcessingConfig.addSetting(Setting(
        GROUP, OFFLINE, "Offline mode: use cached weights only, never download", False))
    ProcessingConfig.readSettings()


def unregister() -> None:
    for name in (DEVICE, CACHE_DIR, OFFLINE):
        if name in ProcessingConfig.settings:
            ProcessingConfig.removeSetting(name)


def default_device() -> str:
    """The setting, else $RSAI_DEVICE, else auto (the device list is the core's: DEVICES)."""
    for value in (ProcessingConfig.getSetting(DEVICE, readable=True), os.environ.get(DEVICE)):
        if value in DEVICES:
            return value
    return DEVICES[0]


def cache_dir() -> Path:
    configured = ProcessingConfig.getSetting(CACHE_DIR) or os.environ.get(CACHE_DIR)
    if configured:
        return Path(configured)
    return Path(QgsApplication.qgisSettingsDirPath()) / "rsai" / "weights"


def offline_setting() -> bool:
    """The offline option as set in QGIS. Whether a run is offline is decided in one place, the
    weights store (models/hub.py), which also honours HF_HUB_OFFLINE."""
    return bool(ProcessingConfig.getSetting(OFFLINE))


def user_cards_dir() -> Path:
    """Cards the user added from the model manager, kept in the QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "rsai" / "cards"


def weights_store(log=lambda message: None, digests: dict | None = None) -> WeightsStore:
    return WeightsStore(cache_dir(), offline=offline_setting(), log=log, digests=digests)


def set_offline(value: bool) -> None:
    """The model manager's offline switch: the same setting as in the Processing options."""
    ProcessingConfig.setSettingValue(OFFLINE, bool(value))
