"""The model manager dialog: every model card with what it is for, its size and its weights'
cache state, download with progress and cancel, remove from the cache, offline switch, custom
models, and the devices the backends will use. It opens without the Python dependencies and
says what is missing. The logic lives in plugin/model_catalog.py; this is only the window."""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import QCoreApplication, Qt, QThread, pyqtSignal
from qgis.PyQt.QtGui import QFont
from qgis.PyQt.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox,
                                 QFileDialog, QGroupBox, QHBoxLayout, QHeaderView,
                                 QInputDialog, QLabel, QMessageBox, QProgressBar, QPushButton,
                                 QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..installer import dependencies
from ..models.errors import Cancelled, UserError
from ..models.runtime.devices import device_report
from ..processing_provider import settings
from .model_catalog import ModelCatalog, human_size

# What the manager cannot do without each package, for the notice at its top.
NEEDS = {"huggingface_hub": "models cannot be downloaded, and whether they are cached is unknown",
         "onnxruntime": "ONNX files cannot be read (Add ONNX file…, Add Hub model…)"}


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
    COLUMNS = ("Model", "What it is for", "Licence", "Size", "Cached")

    def __init__(self, catalog: ModelCatalog | None = None, parent=None, install=None):
        """``install``: what the notice's Install dependencies… button opens (the plugin
        passes its installer; default: the installer dialog)."""
        super().__init__(parent)
        self.catalog = catalog or ModelCatalog(settings.weights_store(), settings.user_cards_dir())
        self.job: Job | None = None
        self.size_job: Job | None = None
        self.remote_sizes: dict[str, int] = {}
        self.install = install or self._open_installer
        self.setWindowTitle(tr("Remote Sensing AI Toolbox: model manager"))
        self.resize(1100, 720)
        layout = QVBoxLayout(self)

        self.notice = QWidget()
        self.notice.setObjectName("rsai_notice")
        self.notice.setAttribute(Qt.WA_StyledBackground, True)
        notice_layout = QHBoxLayout(self.notice)
        notice_layout.setContentsMargins(6, 4, 6, 4)
        self.notice.setStyleSheet("#rsai_notice { background: #fff4ce; border-radius: 3px; }")
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        install_button = QPushButton(tr("Install dependencies…"))
        install_button.clicked.connect(lambda _checked=False: self.install())
        notice_layout.addWidget(self.notice_label, 1)
        notice_layout.addWidget(install_button, 0, Qt.AlignTop)
        layout.addWidget(self.notice)
        self.show_missing_packages()

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
        header.setSectionResizeMode(0, QHeaderView.Interactive)
        header.resizeSection(0, 330)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.Interactive)
        header.resizeSection(2, 110)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemSelectionChanged.connect(self.show_details)
        layout.addWidget(self.table, 1)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout.addWidget(self.details)

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

        boxes = QHBoxLayout()  # cache and devices side by side: the table keeps the height
        cache_box = QGroupBox(tr("Weights cache"))
        cache_layout = QVBoxLayout(cache_box)
        self.cache_label = QLabel()
        self.cache_label.setWordWrap(True)
        self.cache_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.offline = QCheckBox(tr("Offline: use cached weights only, never download"))
        self.offline.setChecked(self.catalog.store.offline)
        self.offline.toggled.connect(self.set_offline)
        cache_layout.addWidget(self.cache_label)
        cache_layout.addWidget(self.offline)
        cache_layout.addStretch(1)
        boxes.addWidget(cache_box, 1)

        device_box = QGroupBox(tr("Devices"))
        device_layout = QVBoxLayout(device_box)
        self.device_label = QLabel()
        self.device_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.device_label.setFont(QFont("monospace", 9))
        detect = QPushButton(tr("Detect GPUs (loads PyTorch)"))
        detect.clicked.connect(lambda: self.show_devices(load_torch=True))
        device_layout.addWidget(self.device_label)
        device_layout.addWidget(detect, 0, Qt.AlignLeft)
        boxes.addWidget(device_box, 1)
        layout.addLayout(boxes)

        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()
        self.show_details()
        self.show_devices()
        self.look_up_sizes()

    # -- display ------------------------------------------------------------------------------
    def show_missing_packages(self) -> None:
        self.missing = dependencies.missing_packages(NEEDS)
        self.notice_label.setText("<br>".join(
            tr("<b>{}</b> is not installed: {}.").format(name, tr(NEEDS[name]))
            for name in self.missing))
        self.notice.setVisible(bool(self.missing))

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
            size = row.size if row.size is not None else self.remote_sizes.get(row.id)
            values = (title, row.purpose, row.card.licence,
                      human_size(size) if size is not None else tr("not stated"),
                      "?" if row.cache_unknown else tr("yes") if row.cached else tr("no"))
            tips = (row.id, row.card.description, row.card.description, "",
                    tr("Size of the cached file") if row.cached else
                    tr("As the model card or the server states it; not stated: known after "
                       "downloading"), row.cache_unknown)
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.UserRole, row.id)
                item.setToolTip(tips[j] or value)
                self.table.setItem(i, j, item)
            if row.id == selected:
                self.table.selectRow(i)
        store = self.catalog.store
        self.cache_label.setText(tr("{size} in {folder}").format(
            size=human_size(self.catalog.cache_size()), folder=store.cache_dir))
        self._update_buttons()

    def show_details(self) -> None:
        """The selected model in full: what it is for, task, weights source, licence, citation."""
        row = self._row()
        if row is None:
            self.details.setText(tr("Select a model to see what it is for and where its weights "
                                    "come from."))
            return
        lines = [f"<b>{html.escape(row.card.title)}</b> ({html.escape(row.id)}, "
                 f"{html.escape(row.card.task)}): {html.escape(row.card.description)}",
                 tr("Weights: {}. Licence: {}.").format(html.escape(row.source),
                                                        html.escape(row.card.licence))]
        if row.card.citation:
            lines.append(tr("Cite: {}").format(html.escape(row.card.citation)))
        if row.cache_unknown:
            lines.append(html.escape(row.cache_unknown))
        self.details.setText("<br>".join(lines))

    def look_up_sizes(self) -> None:
        """Ask the servers for the sizes the cards do not state, off the GUI thread."""
        rows = [r for r in self.rows if r.size is None and r.card.weights is not None]
        if not rows or self.catalog.store.offline or self.size_job is not None:
            return
        self.size_job = Job(lambda _progress, _cancelled: self.catalog.remote_sizes(rows), self)
        self.size_job.succeeded.connect(self._sizes_known)
        self.size_job.failed.connect(lambda _message: self._sizes_known({}))
        self.size_job.start()

    def _sizes_known(self, sizes: dict) -> None:
        self.size_job.wait()
        self.size_job = None
        self.remote_sizes.update(sizes)
        self.refresh()

    def _open_installer(self) -> None:
        from .installer_dialog import InstallerDialog

        dialog = InstallerDialog(parent=self)
        dialog.finished_install.connect(lambda _code: (self.show_missing_packages(),
                                                       self.refresh()))
        dialog.show()

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
                                        and not row.cache_unknown
                                        and not self.catalog.store.offline)
        self.remove_button.setEnabled(bool(row) and bool(row.cached) and not busy
                                      and row.card.local_weights is None)
        self.delete_button.setEnabled(bool(row) and row.custom and not busy)
        self.add_hub_button.setEnabled(not busy and not self.catalog.store.offline
                                       and "huggingface_hub" not in self.missing)
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
        if self.size_job is not None:
            self.size_job.wait()
        if self.job is not None:
            if QMessageBox.question(self, tr("Download running"),
                                    tr("Cancel the download and close?")) != QMessageBox.Yes:
                return
            self.cancel()
            self.job.wait()
        super().reject()
