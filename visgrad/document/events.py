"""A tiny, Qt-free signal mechanism: the document and the session emit, views subscribe.

Example::

    >>> from visgrad.document.events import EventGroup
    >>> events = EventGroup("node_added", "node_removed")
    >>> seen = []
    >>> _ = events.node_added.connect(lambda event: seen.append(event.node))
    >>> _ = events.node_added.emit(node="n1")
    >>> seen
    ['n1']

NOTE [why not Qt signals]: the document must be usable (and testable) without a display, so
it cannot depend on QObject. The Qt layer connects ``_on_<event>`` handlers to these signals
and re-emits or repaints from them; nothing here knows it exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class Event:
    """What a signal hands to its callbacks: ``event.type`` plus the keyword fields emitted."""

    def __init__(self, type: str, **fields: Any) -> None:  # noqa: A002 - the event's name
        self.type = type
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "type")
        return f"Event({self.type}: {fields})"


class Signal:
    """A named list of callbacks, called in the order they connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[[Event], Any]] = []
        self._blocked = 0

    def connect(self, callback: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``callback(event)`` on every emit; returns it, so it works as a decorator."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[Event], Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, **fields: Any) -> Event:
        event = Event(self.name, **fields)
        if not self._blocked:
            for callback in list(self._callbacks):
                callback(event)
        return event

    def __len__(self) -> int:
        return len(self._callbacks)

    @contextlib.contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit nothing inside the block (for bulk work such as training iterations)."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1


class EventGroup:
    """Signals by name, reachable as attributes: ``group.node_added.connect(...)``.

    ``group.any`` is emitted after every other signal of the group, with the original
    event in ``event.source`` (handy for "something changed" listeners and for tests).
    """

    def __init__(self, *names: str) -> None:
        self._signals: dict[str, Signal] = {}
        self.any = Signal("any")
        for name in names:
            self._signals[name] = _Forwarding(name, self.any)
            setattr(self, name, self._signals[name])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._signals)

    def __getitem__(self, name: str) -> Signal:
        return self._signals[name]


class _Forwarding(Signal):
    """A signal that also tells its group's ``any`` signal."""

    def __init__(self, name: str, any_signal: Signal) -> None:
        super().__init__(name)
        self._any = any_signal

    def emit(self, **fields: Any) -> Event:
        event = super().emit(**fields)
        self._any.emit(source=event)
        return event
