"""The canvas: a QGraphicsScene of node and edge items, and the view that shows it."""
