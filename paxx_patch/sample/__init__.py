"""The sample FastAPI project `paxx-patch demo` starts from (shaped like one paxx makes)."""
