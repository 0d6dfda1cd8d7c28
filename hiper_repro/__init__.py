"""hiper-repro."""
