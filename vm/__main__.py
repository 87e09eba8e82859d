"""`python3 -m vm` is `scripts/matrix`."""
import sys

from .matrix import main

sys.exit(main())
