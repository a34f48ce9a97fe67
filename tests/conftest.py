"""Shared test setup: headless Qt, crash traces, and the engine's backends."""

import faulthandler
import os

# Must be set before anything imports Qt: every GUI test runs offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
faulthandler.enable()
