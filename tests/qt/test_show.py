"""vg.show opens the window on a traced graph (the event loop is stubbed out)."""

import visgrad as vg
from visgrad.qt import app as qt_app


def test_show_opens_the_traced_graph(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    shown = {}
    real_application = qt_app.application

    def fake_application(*args, **kwargs):
        app = real_application(*args, **kwargs)
        monkeypatch.setattr(app, "exec", lambda: 0)
        return app

    from visgrad.qt import main_window

    real_load = main_window.MainWindow.load_document

    def spy(self, document, path, name=None):
        shown["window"], shown["document"] = self, document
        qtbot.addWidget(self)
        return real_load(self, document, path, name=name)

    monkeypatch.setattr(qt_app, "application", fake_application)
    monkeypatch.setattr(main_window.MainWindow, "load_document", spy)
    w = vg.tensor(2.0, requires_grad=True)
    loss = (w * 3).exp()
    assert vg.show(loss, names={"w": w, "loss": loss}) == 0
    document = shown["document"]
    kinds = sorted(node.kind for node in document.nodes.values())
    labels = {node.label for node in document.nodes.values()}
    assert "w" in labels and "loss" in labels
    assert "Exp" in kinds and "Parameter" in kinds or "Tensor" in kinds
    assert shown["window"].isVisible()
