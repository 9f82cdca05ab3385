"""The MODEL parameter's widget in the tool and batch dialogs: an editable drop-down of the known
model cards (built-in and the user's) and a button to pick an .onnx file or a card .json.

The parameter stays a plain string, so qgis_process, scripts and saved models are unaffected,
and anything can still be typed (a path, a Hub reference owner/repo@revision:file.onnx). In the
graphical modeler the standard widget is kept: there MODEL may come from a model input or from
another tool's output (rsai:download_model), which only the standard widget offers.
"""

from __future__ import annotations

from qgis.gui import QgsGui
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QToolButton, QWidget
from processing.gui.wrappers import WidgetWrapper

from ..models import registry
from ..models.errors import UserError
from . import settings


def known_models(tasks=None, inputs=None) -> list[tuple[str, str]]:
    """(id, title) of every card the tool can run, by title: cards of one of ``tasks`` whose
    first input is named one of ``inputs`` (None: any)."""
    try:
        cards = registry.list_cards([settings.user_cards_dir()]).values()
    except UserError:  # a broken user card must not keep the dialog from opening
        cards = registry.list_cards().values()
    return sorted(((c.id, c.title) for c in cards
                   if (tasks is None or c.task in tasks)
                   and (inputs is None or c.primary.name in inputs)),
                  key=lambda item: item[1].lower())


class ModelWidgetWrapper(WidgetWrapper):
    """Set on a string parameter as metadata {"widget_wrapper": {"class": <this class's dotted
    path>, "tasks": [...], "inputs": [...]}}: the drop-down lists the cards the tool runs."""

    def __new__(cls, param, dialog, row=0, col=0, **kwargs):
        if type(dialog).__name__ == "ModelerParametersDialog":
            # The modeler's own widget (static value, model input or another child's output).
            widget = QgsGui.processingGuiRegistry().createModelerParameterWidget(
                dialog.model, dialog.childId, param, dialog.context)
            widget.setDialog(dialog)
            return widget
        return super().__new__(cls)

    def createWidget(self, tasks=None, inputs=None, **_kwargs):
        widget = QWidget()
        layout = QHBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.NoInsert)
        # long card titles must not widen the dialog (the panel would scroll sideways)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        for model_id, title in known_models(tasks, inputs):
            self.combo.addItem(f"{model_id} — {title}", model_id)
            self.combo.setItemData(self.combo.count() - 1, title, Qt.ToolTipRole)
        self.combo.setCurrentIndex(-1)
        self.combo.lineEdit().setPlaceholderText(self.tr("card id, .onnx / .json file or Hub "
                                                         "reference"))
        self.combo.currentTextChanged.connect(lambda _text: self.widgetValueHasChanged.emit(self))
        # show the start of "ftw-3class — Fields of The World…" (the id), not its end
        self.combo.currentIndexChanged.connect(
            lambda _index: self.combo.lineEdit().setCursorPosition(0))
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip(self.tr("Choose an .onnx model file or a model card .json"))
        browse.clicked.connect(self.browse)
        layout.addWidget(self.combo, 1)
        layout.addWidget(browse)
        return widget

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.widget, self.tr("Model file"), "",
            self.tr("Models (*.onnx *.json);;ONNX models (*.onnx);;Model cards (*.json)"))
        if path:
            self.setValue(path)

    def setValue(self, value):
        if isinstance(value, list):
            value = value[0] if value else None
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.setCurrentIndex(index)
            self.combo.lineEdit().setCursorPosition(0)
        else:
            self.combo.setCurrentIndex(-1)
            self.combo.setEditText("" if value is None else str(value))

    def value(self):
        text = self.combo.currentText().strip()
        index = self.combo.findText(text)
        return self.combo.itemData(index) if index >= 0 else text
