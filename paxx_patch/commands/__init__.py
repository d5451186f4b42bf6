"""One module per command: each exposes a function that takes keyword arguments."""
