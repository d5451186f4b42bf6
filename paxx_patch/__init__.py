"""paxx-patch: add infrastructure components to a FastAPI project as git history."""

__version__ = "0.1.0"
