"""The graph document: what the canvas shows, saved as ``.vgraph``, run through the engine.

Qt-free by design (the ``visgrad.qt`` layer subscribes to the events here).

>>> from visgrad.document import GraphDocument, Session
>>> doc = GraphDocument()
>>> x = doc.add_node("Parameter", label="x", value=3.0)
>>> y = doc.add_node("Pow", label="y", exponent=2)
>>> _ = doc.connect(x, y, "x")
>>> session = Session(doc)
>>> session.run_backward()
>>> float(session.inspect("x").grad)
6.0
"""

from visgrad.document import registry
from visgrad.document.files import GraphFileError, dumps, load, loads, save
from visgrad.document.model import DocumentError, Edge, GraphDocument, Hook, Node
from visgrad.document.session import Session
from visgrad.document.trace import trace

__all__ = [
    "DocumentError", "Edge", "GraphDocument", "GraphFileError", "Hook", "Node", "Session",
    "dumps", "load", "loads", "registry", "save", "trace",
]
