"""The Train panel and the plots: Start/Pause/Step/Reset on a timer, runs overlaid, going back
to an iteration, divergence shown, exports, and ``visgrad train``."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from visgrad import cli
from visgrad.document.operations import SetParam, SetSetting


def open_example(window, name: str, **settings):
    assert window.open_example(name)
    for key, value in settings.items():
        assert window.editor.push(SetSetting(key, value)) is None
    return window.train_panel


def train_to_the_end(qtbot, panel, timeout: int = 20_000) -> None:
    panel.start()
    assert panel.running
    qtbot.waitUntil(lambda: not panel.running, timeout=timeout)


def curve_data(plots, run):
    x, y = plots._loss_curves[run.number].getData()
    return np.asarray(x), np.asarray(y)


def test_start_runs_to_completion_on_a_timer(window, qtbot):
    panel = open_example(window, "gradient_descent", steps=100, lr=0.1)
    window.plots.tabs.setCurrentWidget(window.plots.loss_page)
    panel.start()
    assert panel.running and panel.trainer.iteration < 100  # the first tick is still to come
    qtbot.waitUntil(lambda: not panel.running, timeout=20_000)
    trainer = panel.trainer
    assert trainer.iteration == 100 and not trainer.stopped
    loss = float(window.session.inspect("loss").value)
    x, y = curve_data(window.plots, trainer.history)
    assert len(x) == len(y) == 101 and x[-1] == 100
    assert y[-1] == pytest.approx(loss, abs=1e-6)
    assert float(window.session.inspect("x").value) == pytest.approx(-1.5, abs=1e-4)
    assert panel.frames >= 1 and panel.plots.caption.text().startswith("run 1 · SGD lr=0.1")
    assert "100 iterations, loss 11.0 → -1.25" in window.step_label.text()
    # every tab draws the same run, in step with the iteration shown
    for page in (window.plots.params_page, window.plots.landscape_page, window.plots.fit_page):
        window.plots.tabs.setCurrentWidget(page)
        window.plots.refresh(finish=True)
    assert window.plots.params_page.plotting and window.plots.landscape_page.plotting
    assert not window.plots.fit_page.plotting  # not a regression graph
    assert len(window.plots._value_curves[0].getData()[0]) == 101
    point = window.plots.point_item.getData()
    assert point[0][0] == pytest.approx(-1.5, abs=1e-4) and point[1][0] == pytest.approx(loss)


def test_the_window_answers_while_training(window, qtbot):
    import time

    panel = open_example(window, "linear_regression", steps=100_000)
    frames, started = panel.frames, time.perf_counter()
    panel.start()
    qtbot.waitUntil(lambda: panel.trainer.iteration > 20, timeout=10_000)
    ticks = []
    qtbot.waitUntil(lambda: ticks.append(panel.trainer.iteration) or len(set(ticks)) > 3,
                    timeout=10_000)  # the event loop keeps turning: the test itself runs
    qtbot.wait(300)
    panel.pause()
    assert not panel.running
    # the plots follow at screen rate at most, not once per iteration
    assert (panel.frames - frames) / (time.perf_counter() - started) <= 62


def test_pause_stops_iterating(window, qtbot):
    panel = open_example(window, "linear_regression", steps=100_000)
    panel.start()
    qtbot.waitUntil(lambda: panel.trainer.iteration >= 5, timeout=10_000)
    panel.pause()
    assert not panel.running and not panel.pause_button.isEnabled()
    stopped_at = panel.trainer.iteration
    qtbot.wait(150)
    assert panel.trainer.iteration == stopped_at
    assert f"Paused at iteration {stopped_at}" in window.step_label.text()
    panel.start()  # goes on with the same run
    qtbot.waitUntil(lambda: panel.trainer.iteration > stopped_at, timeout=10_000)
    panel.pause()
    assert len(panel.runs) == 1


def test_step_takes_one_iteration_and_says_what_it_did(window, qtbot):
    panel = open_example(window, "gradient_descent", lr=0.1)
    qtbot.mouseClick(panel.step_button, Qt.MouseButton.LeftButton)
    assert panel.trainer.iteration == 1
    assert float(window.session.inspect("x").value) == pytest.approx(1.3)
    assert "x ← x − lr · x.grad = 2.0 − 0.1 · 7.0 = 1.3" in window.step_label.text()
    assert float(window.session.inspect("x").grad) == pytest.approx(5.6)  # at the new x
    panel.step_once()
    assert panel.trainer.iteration == 2 and len(panel.runs) == 1


def test_divergence_is_shown_and_the_app_keeps_working(window, qtbot):
    panel = open_example(window, "gradient_descent", lr=1.5, steps=500)
    train_to_the_end(qtbot, panel)
    trainer = panel.trainer
    assert trainer.stopped and trainer.diverged and trainer.iteration < 500
    message = f"The loss became inf at iteration {trainer.iteration}"
    assert panel.message.isVisible() and panel.message.text().startswith(message)
    assert "try a smaller learning rate" in panel.message.text()
    assert window.step_label.text().startswith(message)
    assert any(message in window.log.list.item(i).text() for i in range(window.log.list.count()))
    _, y = curve_data(window.plots, trainer.history)
    assert math.isnan(y[-1]) and np.isfinite(y[:-1]).all()
    # the app keeps working: a smaller learning rate trains from the initial values
    window.editor.push(SetSetting("lr", 0.1))
    window.editor.push(SetSetting("steps", 50))
    train_to_the_end(qtbot, panel)
    assert not panel.trainer.stopped and not panel.message.isVisible()
    assert float(window.session.inspect("x").value) == pytest.approx(-1.5, abs=1e-3)
    assert len(panel.runs) == 2 and len(window.plots._loss_curves) == 2
    window.session.run_backward()  # and the stepper still works
    assert window.session.error is None


def sqrt_document(start: str):
    """loss = sqrt(x): SGD with lr = 1 from x = 2 takes x below 0 (the loss is NaN at
    iteration 5); from x = -1 the loss is NaN at iteration 0."""
    from visgrad.document import GraphDocument

    document = GraphDocument()
    x = document.add_node("Parameter", label="x", value=start)
    loss = document.add_node("Sqrt", label="loss")
    document.connect(x, loss, "x")
    document.set_setting("backward_node", loss.id)
    document.set_setting("lr", 1.0)
    document.set_setting("steps", 50)
    return document


@pytest.mark.parametrize(("start", "finite_rows"), [("2.0", 5), ("-1.0", 0)])
def test_a_nan_loss_draws_the_finite_part_without_numpy_warnings(window, qtbot, start,
                                                                 finite_rows):
    plots = window.plots
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        window.load_document(sqrt_document(start), None)
        window.session.run_forward()  # a forward pass: a NaN point on "Forward passes"
        window.session.run_forward()
        panel = window.train_panel
        panel.start()  # from x = -1 the run stops at once, at iteration 0
        qtbot.waitUntil(lambda: not panel.running, timeout=20_000)
        for page in (plots.loss_page, plots.params_page, plots.landscape_page,
                     plots.fit_page, plots.passes):
            plots.tabs.setCurrentWidget(page)
            plots.refresh(finish=True)
            plots.grab()  # pyqtgraph bounds its items when they are painted
        for iteration in range(finite_rows + 1):
            panel.show_iteration(iteration)
            plots.refresh(finish=True)
            plots.grab()
    numpy_warnings = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert numpy_warnings == []
    trainer = panel.trainer
    assert trainer.stopped and trainer.diverged and trainer.iteration == finite_rows
    verb = "is" if finite_rows == 0 else "became"  # at 0, before any step, nothing changed it
    assert trainer.message.startswith(f"The loss {verb} NaN at iteration {finite_rows}")
    _, y = curve_data(plots, trainer.history)
    assert len(y) == finite_rows + 1 and math.isnan(y[-1]) and np.isfinite(y[:-1]).all()
    path_x, path_y = plots._path_items[trainer.history.number].getData()
    if finite_rows:  # the iterates, up to the NaN
        assert len(path_y) == finite_rows + 1 and np.isfinite(path_y[:-1]).all()
        assert path_x[0] == pytest.approx(2.0) and path_y[0] == pytest.approx(math.sqrt(2))
    else:  # no finite point: nothing to draw
        assert path_y is None or len(path_y) == 0
    passes = plots.passes.values()
    assert len(passes) >= 2 and (np.isfinite(passes).all() if finite_rows else
                                 np.isnan(passes).all())  # NaN passes are kept, not drawn


def test_scrubbing_changes_what_the_inspector_shows(window, qtbot):
    panel = open_example(window, "gradient_descent", lr=0.1, steps=20)
    train_to_the_end(qtbot, panel)
    window.select_node(window.document.node("x").id)
    window.inspector.flush()
    latest = window.inspector.field_text("value")
    panel.slider.setValue(0)  # the user drags the slider to the start
    window.inspector.flush()
    assert window.inspector.field_text("value") == "tensor(2., requires_grad=True)"
    assert window.inspector.field_text("grad") == "tensor(7.)"
    assert panel.iteration_label.text() == "0" and window.plots.shown == 0
    assert window.plots.loss_cursor.value() == 0
    assert window.scene.node_item(window.document.node("loss").id) is not None
    # a click on the loss curve picks an iteration too
    window.plots.tabs.setCurrentWidget(window.plots.loss_page)
    window.plots.refresh()
    QApplication.processEvents()
    box = window.plots.loss_plot.vb
    scene_pos = box.mapViewToScene(QPointF(5, float(panel.trainer.history.loss[5])))
    view = window.plots.loss_widget
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: panel.trainer.shown == 5, timeout=5_000)
    window.inspector.flush()
    x5 = float(panel.trainer.history.values[5, 0])
    assert float(window.session.inspect("x").value) == pytest.approx(x5)
    assert window.inspector.field_text("value") != latest
    # Latest goes back; Start goes on from the latest
    qtbot.mouseClick(panel.latest_button, Qt.MouseButton.LeftButton)
    window.inspector.flush()
    assert window.inspector.field_text("value") == latest
    panel.show_iteration(3)
    train_to_the_end(qtbot, panel)
    assert panel.trainer.iteration == 40 and len(panel.runs) == 1


def test_new_settings_start_a_new_run_overlaid_in_another_colour(window, qtbot):
    panel = open_example(window, "linear_regression", steps=30)
    train_to_the_end(qtbot, panel)
    window.editor.push(SetSetting("optimizer", "Adam"))
    assert "Start or Step begins a new run" in panel.summary.text()
    train_to_the_end(qtbot, panel)
    first, second = panel.runs
    assert (first.config.optimizer, second.config.optimizer) == ("SGD", "Adam")
    assert second.values[0].tolist() == first.values[0].tolist()  # from the initial values
    legend = [label.text for _, label in window.plots.loss_plot.legend.items]
    assert legend == ["run 1 · SGD lr=0.5", "run 2 · Adam lr=0.5"]
    pens = {window.plots._loss_curves[n].opts["pen"].color().name() for n in (1, 2)}
    assert len(pens) == 2
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert panel.runs == [second] and list(window.plots._loss_curves) == [2]


def test_reset_puts_the_initial_values_back(window, qtbot):
    panel = open_example(window, "gradient_descent", steps=10)
    train_to_the_end(qtbot, panel)
    assert float(window.session.inspect("x").value) != 2.0
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert float(window.session.inspect("x").value) == 2.0
    assert panel.trainer.iteration == 0 and len(panel.runs) == 2
    panel.reset()  # a run that never stepped is replaced, not piled up
    assert len(panel.runs) == 2


def test_editing_the_graph_while_training_pauses_and_a_new_run_follows(window, qtbot):
    panel = open_example(window, "linear_regression", steps=100_000)
    panel.start()
    qtbot.waitUntil(lambda: panel.trainer.iteration > 3, timeout=10_000)
    window.editor.push(SetParam("data", "noise", 0.0))
    assert not panel.running
    assert "The graph changed" in panel.message.text()
    panel.steps_edit.setText("5")
    panel.steps_edit.editingFinished.emit()
    assert window.document.settings["steps"] == 5
    train_to_the_end(qtbot, panel)
    assert len(panel.runs) == 2 and panel.trainer.iteration == 5


def test_bad_settings_are_explained(window, qtbot):
    panel = open_example(window, "gradient_descent")
    panel.lr_edit.setText("fast")
    panel.lr_edit.editingFinished.emit()
    assert "expected a number" in panel.message.text()
    assert window.document.settings["lr"] == 0.1 and panel.lr_edit.text() == "0.1"
    panel.nesterov_box.setChecked(True)  # needs a momentum, as in torch
    panel.start()
    assert not panel.running
    assert "Nesterov momentum requires a momentum" in panel.message.text()
    assert panel.momentum_edit.isEnabled()
    window.editor.push(SetSetting("optimizer", "Adam"))
    assert not panel.momentum_edit.isEnabled() and not panel.nesterov_box.isEnabled()


def test_loss_node_choice_is_the_documents_backward_node(window, qtbot):
    panel = open_example(window, "linear_regression")
    index = panel.loss_combo.findText("prediction")
    panel.loss_combo.setCurrentIndex(index)
    panel.loss_combo.activated.emit(index)
    assert window.document.settings["backward_node"] == window.document.node("prediction").id
    assert window.backward_combo.currentText() == "prediction"
    panel.step_once()  # backward of a non-scalar output fails as in torch, clearly
    assert panel.trainer is not None and panel.trainer.stopped
    assert "grad can be implicitly created only for scalar outputs" in panel.message.text()


def test_log_scale_and_the_regression_tabs(window, qtbot):
    panel = open_example(window, "linear_regression", steps=60)
    plots = window.plots
    plots.tabs.setCurrentWidget(plots.fit_page)
    train_to_the_end(qtbot, panel)
    assert plots.fit_page.plotting
    x, prediction = plots.fit_item.getData()
    weight = float(window.session.inspect("weight").value.item())
    bias = float(window.session.inspect("bias").value.item())
    np.testing.assert_allclose(prediction, weight * x + bias, rtol=1e-5, atol=1e-5)
    assert len(plots.data_item.data) == 100
    plots.tabs.setCurrentWidget(plots.landscape_page)
    plots.refresh(finish=True)
    assert plots.landscape_dimensions() == 2 and not plots.landscape_pending()
    assert plots.image_item.image is not None and plots._isocurves
    path_x, path_y = plots._path_items[1].getData()
    assert path_x[0] == 0.0 and path_y[0] == 0.0
    plots.log_box.setChecked(True)
    assert plots.log_scale and plots.loss_plot.ctrl.logYCheck.isChecked()


def test_export_csv_and_plots(window, qtbot, tmp_path):
    panel = open_example(window, "linear_regression", steps=25)
    assert not panel.export_button.isEnabled()
    train_to_the_end(qtbot, panel)
    assert panel.export_button.isEnabled()
    written = panel.export_csv(tmp_path / "history.csv")
    with open(written, encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["iteration", "loss", "grad_norm", "weight", "bias", "weight.grad",
                       "bias.grad"]
    assert len(rows) == 27 and rows[-1][0] == "25"
    assert float(rows[-1][1]) == pytest.approx(float(window.session.inspect("loss").value),
                                               rel=1e-6)
    assert float(rows[-1][3]) == pytest.approx(float(window.session.inspect("weight")
                                                     .value.item()), rel=1e-6)
    png = panel.export_plots(tmp_path / "plots.png")
    image = QImage(str(png))
    assert image.width() == 2 * 2 * 720 and image.height() > 1000
    svg = panel.export_plots(tmp_path / "plots.svg")
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert panel.export_plots(tmp_path / "plots.jpg") is None
    assert "plots are saved as .png or .svg" in panel.message.text()
    assert window.plots.tabs.currentWidget() is not None  # the window's tabs are untouched


def test_opening_another_document_forgets_the_runs(window, qtbot):
    panel = open_example(window, "linear_regression", steps=100_000)
    panel.start()
    qtbot.waitUntil(lambda: panel.trainer.iteration > 2, timeout=10_000)
    window.open_example("gradient_descent")
    assert not panel.running and panel.trainer is None and panel.runs == []
    assert not window.plots.loss_page.plotting


def test_dark_theme_keeps_the_plots(window, qtbot):
    panel = open_example(window, "gradient_descent", steps=10)
    train_to_the_end(qtbot, panel)
    window.set_theme("dark")
    window.plots.refresh()
    assert window.plots.loss_page.plotting
    window.set_theme("light")


# --------------------------------------------------------------------------------------------
# visgrad train


def test_cli_train_writes_csv_and_png(qapp, tmp_path, capsys):
    history, plot = tmp_path / "history.csv", tmp_path / "curves.png"
    code = cli.main(["train", "--example", "gradient_descent", "--steps", "100", "--optimizer",
                     "sgd", "--lr", "0.1", "--csv", str(history), "--plot", str(plot)])
    assert code == 0
    out = capsys.readouterr().out
    assert "100 iterations, loss 11 → -1.25; x = -1.5" in out and f"wrote {history}" in out
    with open(history, encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0][:4] == ["iteration", "loss", "grad_norm", "x"] and len(rows) == 102
    assert float(rows[-1][3]) == pytest.approx(-1.5, abs=1e-5)
    image = QImage(str(plot))
    assert not image.isNull() and image.width() >= 1000
    small = image.scaled(64, 64)
    assert len({small.pixel(x, y) for x in range(64) for y in range(64)}) > 8


def test_cli_train_a_file_with_adam_and_momentum_options(qapp, tmp_path, capsys):
    from visgrad.document import examples

    source = examples.path("linear_regression")
    svg = tmp_path / "curves.svg"
    assert cli.main(["train", str(source), "--optimizer", "RMSprop", "--momentum", "0.5",
                     "--lr", "0.01", "--steps", "30", "--plot", str(svg)]) == 0
    assert "RMSprop lr=0.01 momentum=0.5: 30 iterations" in capsys.readouterr().out
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_cli_train_divergence_writes_the_history_and_fails(qapp, tmp_path, capsys):
    history = tmp_path / "h.csv"
    assert cli.main(["train", "--example", "gradient_descent", "--lr", "1.5", "--steps",
                     "500", "--csv", str(history)]) == 1
    assert "The loss became inf at iteration" in capsys.readouterr().err
    assert history.read_text(encoding="utf-8").splitlines()[-1].split(",")[1] == "inf"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["train"], 2, "give either a FILE or --example NAME"),
    (["train", "--example", "nope"], 2, "no example 'nope'"),
    (["train", "--example", "gradient_descent", "--steps", "0"], 2,
     "--steps must be between 1 and 1,000,000"),
    (["train", "--example", "gradient_descent", "--steps", "ten"], 2,
     "--steps must be a whole number"),
    (["train", "--example", "gradient_descent", "--lr", "-0.1"], 2, "--lr must be at least 0"),
    (["train", "--example", "gradient_descent", "--lr", "nan"], 2, "--lr must be at least 0"),
    (["train", "--example", "gradient_descent", "--optimizer", "lbfgs"], 2,
     "unknown optimizer 'lbfgs'"),
    (["train", "--example", "gradient_descent", "--optimizer", "adam", "--momentum", "0.9"], 2,
     "--momentum applies to sgd and rmsprop"),
    (["train", "--example", "gradient_descent", "--nesterov"], 2,
     "Nesterov momentum requires a momentum"),
    (["train", "--example", "gradient_descent", "--plot", "x.jpg"], 2,
     "--plot must end in .png or .svg"),
    (["train", "missing.vgraph"], 1, "no such file"),
    (["train", "--example", "chain_rule", "--steps", "2", "--csv", "no/such/dir/h.csv"], 1,
     "cannot write no/such/dir/h.csv"),
])
def test_cli_train_bad_arguments(qapp, tmp_path, monkeypatch, capsys, argv, code, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == code
    assert message in capsys.readouterr().err


def test_each_parameter_legend_entry_has_its_line_beside_its_name(window, qtbot):
    panel = open_example(window, "linear_regression", steps=20)
    window.resize(1480, 900)
    window.show()
    window.plots.tabs.setCurrentWidget(window.plots.params_page)
    train_to_the_end(qtbot, panel)
    window.plots.refresh(finish=True)
    QApplication.processEvents()
    window.plots.params_page.grab()  # lay the page out as it is shown
    legend = window.plots.params_legend
    names = [label.text for _, label in legend.items]
    assert names == ["weight", "bias"]
    for sample, label in legend.items:
        line_y = sample.mapToScene(sample.boundingRect().center()).y()
        text = label.item  # the drawn text; the LabelItem around it fills its whole cell
        name_y = text.mapToScene(text.boundingRect().center()).y()
        assert abs(line_y - name_y) < 6, (label.text, line_y, name_y)
    top = window.plots.values_plot.mapToScene(window.plots.values_plot.boundingRect().topLeft())
    assert legend.mapToScene(legend.boundingRect().topLeft()).y() <= top.y() + 20


@pytest.mark.parametrize("name", ["light", "dark"])
def test_no_parameter_curve_wears_the_gradient_norm_colour(window, qtbot, name):
    from PySide6.QtGui import QColor

    from visgrad.qt import theme

    theme.apply(name)
    try:
        panel = open_example(window, "linear_regression", steps=5)
        window.plots.tabs.setCurrentWidget(window.plots.params_page)
        train_to_the_end(qtbot, panel)
        window.plots.refresh(finish=True)
        assert len(window.plots._value_curves) == 2
        norm = window.plots.norm_curve.opts["pen"].color()
        for curve in window.plots._value_curves:
            color = curve.opts["pen"].color()
            distance = max(abs(color.red() - norm.red()), abs(color.green() - norm.green()),
                           abs(color.blue() - norm.blue()))
            assert distance > 60, (name, color.name(), norm.name())
        assert norm == QColor(theme.current().colors["gradient"])
    finally:
        theme.apply("light")


@pytest.mark.parametrize(("start", "noted"), [("2.0", False), ("-1.0", True)])
def test_plots_with_nothing_finite_say_so_instead_of_showing_bare_axes(window, qtbot, start,
                                                                      noted):
    plots = window.plots
    window.load_document(sqrt_document(start), None)
    panel = window.train_panel
    panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=20_000)
    for page in (plots.loss_page, plots.params_page):
        plots.tabs.setCurrentWidget(page)
        plots.refresh(finish=True)
    assert bool(plots.loss_note.text) is noted
    assert bool(plots.norm_note.text) is noted
    assert not plots.values_note.text  # x = -1 is a finite value: it is drawn
    if noted:
        assert "NaN or infinite at every iteration" in plots.loss_note.text
