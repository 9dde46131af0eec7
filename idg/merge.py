"""``python -m idg.merge``: merge generation shards (see :mod:`idg.generate.merge`)."""

import sys

from idg.generate.merge import main

if __name__ == "__main__":
    sys.exit(main())
