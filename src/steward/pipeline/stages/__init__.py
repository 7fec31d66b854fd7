"""Built-in stages, one per file, registered by name so config can order them."""
