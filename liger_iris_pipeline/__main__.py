"""``python -m liger_iris_pipeline``: the same as ``tmtrun`` (jwst users know ``strun``)."""

import sys

from liger_iris_pipeline.cli import main

if __name__ == "__main__":  # importing the module (the API reference imports them all) runs nothing
    sys.exit(main())
