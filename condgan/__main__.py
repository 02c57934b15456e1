"""`python -m condgan ...` runs the command line (also what `torchrun -m condgan` needs)."""

import sys

from condgan.cli.main import main

sys.exit(main())
