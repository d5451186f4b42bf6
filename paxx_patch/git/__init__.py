"""Git plumbing: read the base commit, build commits, land them."""
