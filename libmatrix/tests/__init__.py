"""pytest suite of the library matrix."""
