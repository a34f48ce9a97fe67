"""The ``visgrad`` command line: the app, and the headless tools beside it.

    visgrad                          the app, on the l1..l4 example
    visgrad FILE.vgraph              the app, on a file
    visgrad --example NAME           the app, on a built-in example
    visgrad --list-examples          print the examples' names
    visgrad render FILE|--example NAME -o out.png|out.svg [--after forward|backward|steps:N]
                                     [--size WxH] [--theme light|dark]

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
