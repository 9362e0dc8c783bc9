"""``crds_add_references``: put reference files into a store under a new CRDS context.

    crds_add_references --store DIR [--description TEXT] REFERENCE.fits|REFERENCE.asdf [...]

Prints the new context's name. Exit status 1 with one line ``crds_add_references: error: <file>: <problem>``.
"""

import argparse
import sys

from .errors import StoreError
from .store import add_references


def main(argv=None):
    parser = argparse.ArgumentParser(prog="crds_add_references", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="reference store directory (created if new)")
    parser.add_argument("--description", default="new references", help="why this context exists")
    parser.add_argument("references", nargs="+", help="reference files (MaskModel, DarkModel, FlatModel, ...)")
    args = parser.parse_args(argv)
    try:
        context = add_references(args.store, args.references, args.description)
    except (StoreError, OSError) as error:
        print(f"crds_add_references: error: {error}", file=sys.stderr)
        return 1
    print(context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
