"""``python -m idg.compare``: compare runs (see :mod:`idg.report.compare`)."""

import sys

from idg.report.compare import main

if __name__ == "__main__":
    sys.exit(main())
