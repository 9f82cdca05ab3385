"""The model manager dialog: every model card with its weights' cache state, download with
progress and cancel, remove from the cache, offline switch, custom models, and the devices the
backends will use. The logic lives in plugin/model_catalog.py; this is only the window."""

from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication, Qt, QThread, pyqtSignal
from qgis.PyQt.QtGui import QFont
from qgis.PyQt.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox,
                                 QFileDialog, QGroupBox, QHBoxLayout, QHeaderView,
                                 QInputDialog, QLabel, QMessageBox, QProgressBar, QPushButton,
                                 QTableWidget, QTableWidgetItem, QVBoxLayout)

from ..models.errors import Cancelled, UserError
from ..models.runtime.devices import device_report
from ..processing_provider import settings
from .model_catalog import ModelCatalog, human_size


def tr(text: str) -> str:
    return QCoreApplication.translate("ModelManager", text)


class Job(QThread):
    """Runs ``work(progress, is_cancelled)`` off the GUI thread; reports back by signals."""

    progressed = pyqtSignal(float)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, work, parent=None):
        super().__init__(parent)
        self.work = work
        self.cancel_requested = False

    def run(self):
        try:
            result = self.work(self.progressed.emit, lambda: self.cancel_requested)
        except Cancelled:
            self.failed.emit(tr("Cancelled."))
        except UserError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # show, never crash QGIS from a worker thread
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


class ModelManagerDialog(QDialog):
    COLUMNS = ("Model", "Task", "Source", "Licence", "Size", "Cached")

    def __init__(self, catalog: ModelCatalog | None = None, parent=None):
        super().__init__(parent)
        self.catalog = catalog or ModelCatalog(settings.weights_store(), settings.user_cards_dir())
        self.job: Job | None = None
        self.setWindowTitle(tr("Remote Sensing AI Toolbox: model manager"))
        self.resize(1100, 640)
        layout = QVBoxLayout(self)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels([tr(c) for c in self.COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        header.setSectionResizeMode(3, QHeaderView.Interactive)
        header.resizeSection(3, 150)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        self.download_button = QPushButton(tr("Download"))
        self.remove_button = QPushButton(tr("Remove from cache"))
        self.add_file_button = QPushButton(tr("Add ONNX file…"))
        self.add_hub_button = QPushButton(tr("Add Hub model…"))
        self.delete_button = QPushButton(tr("Delete custom model"))
        for button, slot in ((self.download_button, self.download_selected),
                             (self.remove_button, self.remove_selected),
                             (self.add_file_button, self._ask_onnx_file),
                             (self.add_hub_button, self._ask_hub_reference),
                             (self.delete_button, self.delete_selected)):
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.message)

        cache_box = QGroupBox(tr("Weights cache"))
        cache_layout = QHBoxLayout(cache_box)
        self.cache_label = QLabel()
        self.cache_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.offline = QCheckBox(tr("Offline: use cached weights only, never download"))
        self.offline.setChecked(self.catalog.store.offline)
        self.offline.toggled.connect(self.set_offline)
        cache_layout.addWidget(self.cache_label, 1)
        cache_layout.addWidget(self.offline)
        layout.addWidget(cache_box)

        device_box = QGroupBox(tr("Devices"))
        device_layout = QHBoxLayout(device_box)
        self.device_label = QLabel()
        self.device_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.device_label.setFont(QFont("monospace", 9))
        detect = QPushButton(tr("Detect GPUs (loads PyTorch)"))
        detect.clicked.connect(lambda: self.show_devices(load_torch=True))
        device_layout.addWidget(self.device_label, 1)
        device_layout.addWidget(detect, 0, Qt.AlignTop)
        layout.addWidget(device_box)

        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()
        self.show_devices()

    # -- display ------------------------------------------------------------------------------
    def refresh(self) -> None:
        selected = self.selected_id()
        try:
            self.rows = self.catalog.rows()
        except UserError as exc:
            self.rows = []
            self.message.setText(str(exc))
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            title = row.card.title + (tr(" (custom)") if row.custom else "")
            values = (title, row.card.task, row.source, row.card.licence, human_size(row.size),
                      tr("yes") if row.cached else tr("no"))
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.UserRole, row.id)
                item.setToolTip("\n".join(t for t in (row.id, value, row.card.description) if t))
                self.table.setItem(i, j, item)
            if row.id == selected:
                self.table.selectRow(i)
        store = self.catalog.store
        self.cache_label.setText(tr("{size} in {folder}").format(
            size=human_size(self.catalog.cache_size()), folder=store.cache_dir))
        self._update_buttons()

    def show_devices(self, load_torch: bool = False) -> None:
        self.device_label.setText("\n".join(device_report(load_torch)))

    def selected_id(self) -> str | None:
        items = self.table.selectedItems() if hasattr(self, "table") else []
        return items[0].data(Qt.UserRole) if items else None

    def select(self, model_id: str) -> None:
        for i, row in enumerate(self.rows):
            if row.id == model_id:
                self.table.selectRow(i)

    def _row(self):
        model_id = self.selected_id()
        return next((r for r in self.rows if r.id == model_id), None)

    def _update_buttons(self) -> None:
        row, busy = self._row(), self.job is not None
        self.download_button.setEnabled(bool(row) and not row.cached and not busy
                                        and not self.catalog.store.offline)
        self.remove_button.setEnabled(bool(row) and bool(row.cached) and not busy
                                      and row.card.local_weights is None)
        self.delete_button.setEnabled(bool(row) and row.custom and not busy)
        self.add_hub_button.setEnabled(not busy and not self.catalog.store.offline)
        self.cancel_button.setEnabled(busy)

    # -- actions ------------------------------------------------------------------------------
    def set_offline(self, value: bool) -> None:
        settings.set_offline(value)
        self.catalog.store.offline = bool(value)
        self._update_buttons()

    def download_selected(self) -> Job | None:
        row = self._row()
        if row is None:
            return None
        self.message.setText(tr("Downloading {}…").format(row.id))
        return self._start(lambda progress, cancelled: self.catalog.download(
            row.id, progress, cancelled), tr("Downloaded {}.").format(row.id))

    def remove_selected(self) -> None:
        row = self._row()
        if row is not None:
            self.catalog.remove(row.id)
            self.message.setText(tr("Removed the weights of {} from the cache.").format(row.id))
            self.refresh()

    def delete_selected(self) -> None:
        row = self._row()
        if row is not None and row.custom:
            self.catalog.delete_custom(row.id)
            self.message.setText(tr("Deleted the custom model {}.").format(row.id))
            self.refresh()

    def add_onnx_file(self, path: str) -> None:
        try:
            card = self.catalog.add_onnx_file(path)
        except UserError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText(tr("Added {} ({}).").format(card.id, path))
        self.refresh()
        self.select(card.id)

    def add_hub_reference(self, reference: str) -> Job:
        self.message.setText(tr("Fetching {}…").format(reference))
        return self._start(lambda progress, cancelled: self.catalog.add_hub_reference(
            reference, progress, cancelled), tr("Added {}.").format(reference))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel_requested = True

    def _start(self, work, done_message: str) -> Job:
        self.job = Job(work, self)
        self.job.progressed.connect(lambda f: self.progress.setValue(int(round(f * 100))))
        self.job.succeeded.connect(lambda _result: self._finished(done_message))
        self.job.failed.connect(self._finished)
        self.progress.setValue(0)
        self._update_buttons()
        self.job.start()
        return self.job

    def _finished(self, message: str) -> None:
        if self.job is not None:
            self.job.wait()
            self.job = None
        self.message.setText(message)
        self.refresh()

    def _ask_onnx_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Add an ONNX model"), "",
                                              tr("ONNX models (*.onnx)"))
        if path:
            self.add_onnx_file(path)

    def _ask_hub_reference(self) -> None:
        reference, ok = QInputDialog.getText(
            self, tr("Add a Hugging Face model"),
            tr("Reference owner/repo@<40-hex commit>:path/model.onnx"))
        if ok and reference.strip():
            self.add_hub_reference(reference.strip())

    def reject(self) -> None:
        if self.job is not None:
            if QMessageBox.question(self, tr("Download running"),
                                    tr("Cancel the download and close?")) != QMessageBox.Yes:
                return
            self.cancel()
            self.job.wait()
        super().reject()
