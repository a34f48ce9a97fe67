"""``python -m visgrad``: the same entry point as the ``visgrad`` command."""

from visgrad.cli import main

raise SystemExit(main())
