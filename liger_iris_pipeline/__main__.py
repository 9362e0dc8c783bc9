"""``python -m liger_iris_pipeline``: the same as ``tmtrun`` (jwst users know ``strun``)."""

import sys

from liger_iris_pipeline.cli import main

sys.exit(main())
