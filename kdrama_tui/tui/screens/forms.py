"""A base for form dialogs: labelled inputs, checked on submit, errors shown in the dialog.

Checks here only spare a round trip; the server checks everything again and its answer is what counts.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

T = TypeVar("T")


class FormModal(ModalScreen[T | None], Generic[T]):
    CSS_PATH = "modal.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    TITLE_TEXT = ""
    SUBMIT_LABEL = "Save"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.TITLE_TEXT, classes="question", markup=False)
            yield from self.compose_fields()
            yield Static("", id="form-error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.SUBMIT_LABEL, id="submit", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#form-error", Static).display = False
        fields = self.query("Input, Select")
        if fields:
            fields.first().focus()

    @staticmethod
    def field(label: str) -> Label:
        return Label(label, classes="field-label")

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def show_error(self, text: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(text)
        error.display = True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        for widget in self.query(Input):
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                self.show_error(f"{widget.placeholder or widget.id}: {'; '.join(result.failure_descriptions)}")
                widget.focus()
                return
        try:
            value = self.collect()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(value)

    @abstractmethod  # every form names its own result (NewUser, KeyRequest, a metadata dict...)
    def collect(self) -> Any:
        """The form's result; raise ValueError with a message to keep the dialog open."""
