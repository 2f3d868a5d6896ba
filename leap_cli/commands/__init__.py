"""One thin click module per console script."""
