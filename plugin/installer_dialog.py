"""The dependency installer dialog: which set (everything, or onnxruntime only for ONNX
models), what is missing, CPU or CUDA builds, pip's output as it runs (QProcess, so QGIS stays
responsive), a cancel button, and a failure explained in plain words with the next step. The
logic is installer/; the Processing tool rsai:install_dependencies runs the same plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget
from qgis.PyQt.QtCore import QCoreApplication, QProcess, QProcessEnvironment, Qt, pyqtSignal
from qgis.PyQt.QtGui import QFont
from qgis.PyQt.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox,
                                 QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                                 QPlainTextEdit, QProgressBar, QRadioButton, QTreeWidget,
                                 QTreeWidgetItem, QVBoxLayout)

from ..models.errors import UserError
from ..installer import dependencies
from ..installer.failures import explain


def tr(text: str) -> str:
    return QCoreApplication.translate("InstallerDialog", text)


class InstallerDialog(QDialog):
    finished_install = pyqtSignal(int)  # pip's exit code (-1: cancelled or failed to start)

    def __init__(self, packages: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.packages = packages  # None: the missing runtime requirements
        self.process: QProcess | None = None
        self.plan: dependencies.InstallPlan | None = None
        self.exit_code: int | None = None
        self.output: list[str] = []  # pip's output of the current run
        self.failure = None  # installer.failures.Failure of the last failed run
        self.setWindowTitle(tr("Remote Sensing AI Toolbox: install dependencies"))
        self.resize(980, 680)
        layout = QVBoxLayout(self)

        intro = QLabel(tr(
            "Most tools need only onnxruntime and a few small packages; PyTorch is needed by "
            "Farmland segmentation, the ADWM pansharpening methods and models whose weights are "
            "not ONNX. Missing packages are installed with pip into a folder of the plugin "
            "inside your QGIS profile; QGIS's own packages (numpy, ...) are kept as they are."))
        intro.setWordWrap(True)
        layout.addWidget(intro)

        package_set = QGroupBox(tr("Packages"))
        set_layout = QHBoxLayout(package_set)
        self.full_set = QRadioButton(tr("Everything, PyTorch included (large)"))
        self.onnx_set = QRadioButton(tr("onnxruntime only, for ONNX models (small)"))
        self.set_group = QButtonGroup(self)
        for button in (self.full_set, self.onnx_set):
            self.set_group.addButton(button)
            set_layout.addWidget(button)
            button.toggled.connect(lambda _checked: self.refresh())
        set_layout.addStretch(1)
        self.full_set.setChecked(True)
        package_set.setVisible(packages is None)  # a caller's own list replaces the sets
        layout.addWidget(package_set)

        self.status = QTreeWidget()
        self.status.setHeaderLabels([tr("Package"), tr("Required"), tr("Installed"), tr("State")])
        self.status.setRootIsDecorated(False)
        self.status.header().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.status.setMaximumHeight(140)
        layout.addWidget(self.status)

        target = QGroupBox(tr("Build"))
        target_layout = QHBoxLayout(target)
        self.cpu = QRadioButton(tr("CPU (smaller download, works everywhere)"))
        self.cuda = QRadioButton(tr("CUDA (NVIDIA GPU)"))
        self.group = QButtonGroup(self)
        self.group.addButton(self.cpu)
        self.group.addButton(self.cuda)
        driver = dependencies.nvidia_driver()
        self.cuda.setEnabled(driver is not None)
        (self.cuda if driver else self.cpu).setChecked(True)
        self.cuda.setToolTip(driver or tr("No NVIDIA driver found (nvidia-smi, "
                                          "/proc/driver/nvidia): CUDA builds are not offered."))
        target_layout.addWidget(self.cpu)
        target_layout.addWidget(self.cuda)
        target_layout.addStretch(1)
        layout.addWidget(target)

        form = QFormLayout()
        self.folder = QgsFileWidget()
        self.folder.setStorageMode(QgsFileWidget.GetDirectory)
        self.folder.setFilePath(str(dependencies.default_folder()))
        form.addRow(tr("Install into"), self.folder)
        python = dependencies.find_python()
        self.python_label = QLabel(python or tr("not found: install python3 and python3-pip"))
        form.addRow(tr("Python running pip"), self.python_label)
        layout.addLayout(form)

        advanced = QgsCollapsibleGroupBox(tr("Advanced: offline wheels"))
        advanced.setCollapsed(True)
        advanced_form = QFormLayout(advanced)
        self.find_links = QgsFileWidget()
        self.find_links.setStorageMode(QgsFileWidget.GetDirectory)
        advanced_form.addRow(tr("Folder of wheel files"), self.find_links)
        self.no_index = QCheckBox(tr("Use only that folder (no package index)"))
        advanced_form.addRow("", self.no_index)
        layout.addWidget(advanced)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFont("monospace", 9))
        self.log.setPlaceholderText(tr("pip's output appears here."))
        layout.addWidget(self.log, 1)
        self.explanation = QLabel()
        self.explanation.setObjectName("rsai_failure")
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("background: #fde7e9; padding: 6px; border-radius: 3px;")
        self.explanation.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.explanation.setVisible(False)
        layout.addWidget(self.explanation)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        layout.addWidget(self.progress)

        self.buttons = QDialogButtonBox()
        self.install_button = self.buttons.addButton(tr("Install"), QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton(tr("Cancel install"),
                                                    QDialogButtonBox.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.install_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self.cancel_button.setEnabled(False)
        layout.addWidget(self.buttons)
        self.refresh()

    def requirements(self) -> list[str]:
        """The caller's packages, else the chosen set's requirements."""
        if self.packages is not None:
            return list(self.packages)
        return dependencies.read_requirements(dependencies.set_file(self.package_set()))

    def package_set(self) -> str:
        return dependencies.ONNX_ONLY if self.onnx_set.isChecked() else dependencies.FULL

    def refresh(self) -> None:
        if not hasattr(self, "install_button"):
            return  # still being built
        self.status.clear()
        statuses = dependencies.check(self.requirements())
        for s in statuses:
            item = QTreeWidgetItem([s.name, s.requirement, s.installed or "—",
                                    tr("ok") if s.satisfied else tr("missing") if
                                    s.installed is None else tr("wrong version")])
            self.status.addTopLevelItem(item)
        todo = [s for s in statuses if not s.satisfied]
        self.install_button.setEnabled(bool(todo) and self.process is None)
        self.install_button.setText(tr("Install {} package(s)").format(len(todo)) if todo
                                    else tr("Nothing to install"))

    def variant(self) -> str:
        return dependencies.CUDA if self.cuda.isChecked() else dependencies.CPU

    def start(self) -> None:
        requirements = dependencies.missing(self.requirements())
        self.output = []
        self.explanation.setVisible(False)
        try:
            self.plan = dependencies.make_plan(
                self.variant(), requirements, self.folder.filePath() or None,
                find_links=[self.find_links.filePath()] if self.find_links.filePath() else [],
                no_index=self.no_index.isChecked())
        except UserError as exc:
            self.log.appendPlainText(str(exc))
            return
        self.plan.write_constraints()
        dependencies.stage(self.plan)  # pip installs into a copy; swapped in once it imports
        command = self.plan.command()
        self.log.appendPlainText("$ " + self.plan.shown_command())
        self.process = QProcess(self)
        environment = QProcessEnvironment()
        for key, value in self.plan.environment().items():
            environment.insert(key, value)
        self.process.setProcessEnvironment(environment)
        self.process.setProcessChannelMode(QProcess.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self.progress.setRange(0, 0)  # busy: pip reports no overall progress
        self.install_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.process.start(command[0], command[1:])

    def cancel(self) -> None:
        if self.process is not None:
            self.log.appendPlainText(tr("Cancelling: stopping pip…"))
            self.process.kill()

    def _read(self) -> None:
        data = dependencies.redact(
            bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace"))
        self.output.append(data)
        self.log.appendPlainText(data.rstrip("\n"))

    def _error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.log.appendPlainText(tr("Could not start {}.").format(self.plan.python))
            self._done(-1)

    def _finished(self, code, status) -> None:
        self._read()
        self._done(code if status == QProcess.NormalExit else -1)

    def _done(self, code: int) -> None:
        if self.process is None:
            return
        self.process = None
        self.exit_code = code
        unusable = None
        if code == 0:
            try:
                dependencies.commit(self.plan, self.log.appendPlainText)
            except UserError as exc:
                unusable, code, self.exit_code = str(exc), 1, 1
        else:
            dependencies.discard(self.plan)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if code == 0 else 0)
        self.cancel_button.setEnabled(False)
        if code == 0:
            self.log.appendPlainText(tr("Done: the packages are installed in {} and usable now.")
                                     .format(self.plan.folder))
        else:
            self.failure = explain("".join(self.output), code, str(self.plan.folder),
                                   self.plan.constraints)
            if unusable:
                self.failure = replace(self.failure, message=unusable)
            self.log.appendPlainText("")
            self.log.appendPlainText(tr(self.failure.message))
            self.explanation.setText(tr(self.failure.message))
            self.explanation.setVisible(True)
        self.refresh()
        self.finished_install.emit(code)

    def reject(self) -> None:
        self.cancel()
        super().reject()
