"""`python3 -m libmatrix` is `scripts/libmatrix`."""
import sys

from .cli import main

sys.exit(main())
