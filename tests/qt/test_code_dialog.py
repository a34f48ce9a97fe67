"""New from code: a refusal is marked in the editor; accepted code becomes the open graph."""

from visgrad.qt.panels.code_dialog import CodeDialog


def test_refused_code_is_marked_where_it_is(qtbot):
    dialog = CodeDialog(text="x = torch.tensor(1.0, requires_grad=True)\ny = open('f')\n")
    qtbot.addWidget(dialog)
    assert dialog.build() is False
    assert dialog.result() != CodeDialog.DialogCode.Accepted
    assert dialog.error_label.text().startswith("line 2, column 5")
    assert "open" in dialog.marked_text()
    dialog.editor.setPlainText("x = 1")  # editing clears the mark
    assert dialog.marked_text() == "" and dialog.error_label.text() == ""


def test_accepted_code_opens_as_the_document(qtbot, window):
    main_window = window
    def factory(parent):
        dialog = CodeDialog(parent)
        dialog.exec = lambda: (dialog.build(), dialog.result())[1]
        return dialog

    assert main_window.new_from_code(dialog_factory=factory) is True
    labels = {node.label for node in main_window.document.nodes.values()}
    assert {"x", "y"} <= labels
    main_window.session.run_forward()
    main_window.session.run_backward()
    x = next(n for n in main_window.document.nodes.values() if n.label == "x")
    assert main_window.session.tensor(x.id).grad.item() == 22.0
