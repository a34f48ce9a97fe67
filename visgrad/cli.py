"""The ``visgrad`` command line: the app, and the headless tools beside it.

    visgrad                          the app, on the l1..l4 example
    visgrad FILE.vgraph              the app, on a file
    visgrad --example NAME           the app, on a built-in example
    visgrad --list-examples          print the examples' names
    visgrad render FILE|--example NAME -o out.png|out.svg [--after forward|backward|steps:N]
                                     [--size WxH] [--theme light|dark]
    visgrad train FILE|--example NAME [--steps N] [--optimizer sgd|adam|rmsprop|adagrad]
                  [--lr LR] [--momentum M] [--nesterov] [--csv history.csv] [--plot out.png]
                                     train without a window; write the history and plots

Qt is imported lazily, inside the commands that need it, so that ``import visgrad`` (the
engine and the document) never imports Qt. ``main(argv)`` returns the exit code: 0 done,
1 a file could not be read or written, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return the code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _app_parser() -> _Parser:
    parser = _Parser(prog="visgrad", description="See automatic differentiation: build a "
                     "graph, step the forward and backward passes, with PyTorch's semantics.",
                     epilog="Also: visgrad render --help")
    parser.add_argument("file", nargs="?", help="a .vgraph file to open")
    parser.add_argument("--example", metavar="NAME", help="open a built-in example")
    parser.add_argument("--list-examples", action="store_true", help="list the examples")
    return parser


def _render_parser() -> _Parser:
    parser = _Parser(prog="visgrad render", description="Draw a graph's canvas into a PNG or "
                     "SVG file without opening a window (for slides).")
    parser.add_argument("file", nargs="?", help="a .vgraph file")
    parser.add_argument("--example", metavar="NAME", help="a built-in example instead of a file")
    parser.add_argument("-o", "--output", required=True, help="out.png or out.svg")
    parser.add_argument("--after", default="none",
                        help="run first: none (default), forward, backward, or steps:N")
    parser.add_argument("--size", metavar="WxH", help="image size in pixels, e.g. 1600x900")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    return parser


def _check_after(after: str) -> str:
    if after in ("none", "forward", "backward") or re.fullmatch(r"steps:\d{1,6}", after):
        return after
    raise _UsageError(f"visgrad render: --after must be none, forward, backward or steps:N "
                      f"(N a whole number), got {after!r}")


def _examples() -> list[str]:
    from visgrad.document import examples  # noqa: PLC0415

    return examples.names()


def _check_example(name: str) -> None:
    names = _examples()
    if name not in names:
        raise _UsageError(f"visgrad: no example {name!r}; examples: {', '.join(names)}")


def _render(argv: list[str]) -> int:
    args = _render_parser().parse_args(argv)
    if (args.file is None) == (args.example is None):
        raise _UsageError("visgrad render: give either a FILE or --example NAME")
    after = _check_after(args.after)
    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".svg"):
        raise _UsageError(f"visgrad render: the output must end in .png or .svg, got "
                          f"{output.name!r}")
    if args.example is not None:
        _check_example(args.example)
    elif not Path(args.file).is_file():
        print(f"visgrad render: no such file: {args.file}", file=sys.stderr)
        return EXIT_FAILED
    from visgrad.document.files import GraphFileError  # noqa: PLC0415

    try:
        from visgrad.qt.app import load_for_render, render_document  # noqa: PLC0415
        from visgrad.qt.render import RenderError  # noqa: PLC0415
    except ImportError as exc:
        print(f"visgrad render: Qt is not available ({exc}).", file=sys.stderr)
        return EXIT_FAILED
    try:
        document = load_for_render(args.file, args.example)
    except (GraphFileError, OSError, ValueError) as exc:
        print(f"visgrad render: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        written = render_document(document, output, after, args.size, args.theme)
    except RenderError as exc:
        print(f"visgrad render: {exc}", file=sys.stderr)
        return EXIT_USAGE if "--size" in str(exc) else EXIT_FAILED
    print(f"wrote {written}")
    return EXIT_OK


def _train_parser() -> _Parser:
    parser = _Parser(prog="visgrad train", description="Train a graph's parameters without a "
                     "window: write the history (iteration, loss, grad_norm, each parameter and "
                     "its gradient) as CSV and the plots as PNG or SVG. Settings not given come "
                     "from the graph's file.")
    parser.add_argument("file", nargs="?", help="a .vgraph file")
    parser.add_argument("--example", metavar="NAME", help="a built-in example instead of a file")
    parser.add_argument("--steps", metavar="N", help="optimizer steps, 1 to 1000000")
    parser.add_argument("--optimizer", metavar="NAME",
                        help="sgd, adam, adamw, rmsprop or adagrad")
    parser.add_argument("--lr", metavar="LR", help="learning rate (a number >= 0)")
    parser.add_argument("--momentum", metavar="M", help="momentum, for sgd and rmsprop")
    parser.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    parser.add_argument("--csv", metavar="FILE", help="write the history here")
    parser.add_argument("--plot", metavar="FILE", help="write the plots here (.png or .svg)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light",
                        help="colours of the plots")
    return parser


def _number_argument(name: str, text: str | None, kind: type = float,
                     minimum: float = 0.0, maximum: float | None = None) -> float | int | None:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise _UsageError(f"visgrad train: {name} must be {what}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < minimum or (
            maximum is not None and value > maximum):
        def shown(bound: float) -> str:
            return f"{int(bound):,}" if kind is int else f"{bound:g}"

        bounds = f"between {shown(minimum)} and {shown(maximum)}" if maximum is not None \
            else f"at least {shown(minimum)}"
        raise _UsageError(f"visgrad train: {name} must be {bounds}, got {text!r}")
    return value


def _train(argv: list[str]) -> int:
    """``visgrad train``: 0 trained, 1 a file could not be read or written or training
    stopped (the loss became inf or NaN: the history is still written), 2 bad arguments."""
    args = _train_parser().parse_args(argv)
    if (args.file is None) == (args.example is None):
        raise _UsageError("visgrad train: give either a FILE or --example NAME")
    steps = _number_argument("--steps", args.steps, int, 1, 1_000_000)
    lr = _number_argument("--lr", args.lr)
    momentum = _number_argument("--momentum", args.momentum)
    if args.plot is not None and Path(args.plot).suffix.lower() not in (".png", ".svg"):
        raise _UsageError(f"visgrad train: --plot must end in .png or .svg, got "
                          f"{Path(args.plot).name!r}")
    from visgrad.document import examples, files  # noqa: PLC0415
    from visgrad.document.session import Session, SessionError  # noqa: PLC0415
    from visgrad.document.training import TrainConfig, Trainer, optimizer_name  # noqa: PLC0415

    optimizer = None
    if args.optimizer is not None:
        try:
            optimizer = optimizer_name(args.optimizer)
        except SessionError as exc:
            raise _UsageError(f"visgrad train: --optimizer: {exc}") from None
    if args.example is not None:
        _check_example(args.example)
        document = examples.load(args.example)
        name = args.example
    else:
        path = Path(args.file)
        if not path.is_file():
            print(f"visgrad train: no such file: {path}", file=sys.stderr)
            return EXIT_FAILED
        try:
            document = files.load(path)
        except (files.GraphFileError, OSError, ValueError) as exc:
            print(f"visgrad train: cannot read {path}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        name = path.stem
    settings = document.settings
    changes = {key: value for key, value in (("optimizer", optimizer), ("lr", lr),
                                             ("momentum", momentum)) if value is not None}
    config = TrainConfig.from_settings(settings, nesterov=args.nesterov, **changes)
    if momentum and config.optimizer not in ("SGD", "RMSprop"):
        raise _UsageError(f"visgrad train: --momentum applies to sgd and rmsprop, not "
                          f"{config.optimizer.lower()}")
    steps = int(settings["steps"] if steps is None else steps)
    try:
        trainer = Trainer(Session(document), config)
    except SessionError as exc:
        print(f"visgrad train: {exc}", file=sys.stderr)
        return EXIT_USAGE if "Invalid" in str(exc) or "Nesterov" in str(exc) else EXIT_FAILED
    try:
        trainer.run(steps)
    finally:
        trainer.close()
    run = trainer.history
    values = ", ".join(f"{column} = {value:.6g}" for column, value in
                       list(zip(run.columns, run.values[-1], strict=True))[:6])
    print(f"{name}: {run.name}: {run.steps} iterations, loss {run.loss[0]:.6g} → "
          f"{run.loss[-1]:.6g}" + (f"; {values}" if values else ""))
    code = EXIT_OK
    if trainer.stopped:
        print(f"visgrad train: {trainer.message}", file=sys.stderr)
        code = EXIT_FAILED
    if args.csv is not None:
        try:
            print(f"wrote {run.save_csv(args.csv)}")
        except OSError as exc:
            print(f"visgrad train: cannot write {args.csv}: {exc}", file=sys.stderr)
            code = EXIT_FAILED
    if args.plot is not None:
        try:
            from visgrad.qt.panels.plots import export_training_plots  # noqa: PLC0415
        except ImportError as exc:
            print(f"visgrad train: Qt is not available for --plot ({exc}).", file=sys.stderr)
            return EXIT_FAILED
        title = f"{settings['title'] or name} — {run.name}"
        try:
            print(f"wrote {export_training_plots(trainer, args.plot, title, args.theme)}")
        except OSError as exc:
            print(f"visgrad train: cannot write {args.plot}: {exc}", file=sys.stderr)
            code = EXIT_FAILED
    return code


def _app(argv: list[str]) -> int:
    args = _app_parser().parse_args(argv)
    if args.list_examples:
        for name in _examples():
            print(name)
        return EXIT_OK
    if args.file is not None and args.example is not None:
        raise _UsageError("visgrad: give a FILE or --example NAME, not both")
    if args.example is not None:
        _check_example(args.example)
    path = None
    if args.file is not None:
        path = Path(args.file)
        if not path.is_file():
            print(f"visgrad: no such file: {path}", file=sys.stderr)
            return EXIT_FAILED
        from visgrad.document import files  # noqa: PLC0415

        try:
            files.load(path)  # say what is wrong on the terminal, before any window opens
        except (files.GraphFileError, OSError, ValueError) as exc:
            print(f"visgrad: cannot open {path}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        from visgrad.qt.app import launch  # noqa: PLC0415 - Qt only when the app is asked for
    except ImportError as exc:
        print(f"visgrad: the desktop app is not available ({exc}).", file=sys.stderr)
        return EXIT_FAILED
    return launch(path, args.example)


def main(argv: list[str] | None = None) -> int:
    """Run the ``visgrad`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "render":
            return _render(argv[1:])
        if argv and argv[0] == "train":
            return _train(argv[1:])
        if argv and argv[0] == "export":  # Qt-free: graph -> runnable script
            from visgrad.document.code_export import export_command  # noqa: PLC0415

            return export_command(argv[1:])
        return _app(argv)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
