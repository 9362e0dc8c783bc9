"""``crds_add_references``: put reference files into a store under a new CRDS context; ``crds_index_store``:
record the sha1 and size of every file of a store another writer laid out (the community's cache).

    crds_add_references --store DIR [--description TEXT] REFERENCE.fits|REFERENCE.asdf [...]
    crds_index_store --store DIR

``crds_add_references`` prints the new context's name, ``crds_index_store`` how many files it indexed. Exit
status 1 with one line ``<command>: error: <file>: <problem>``.
"""

import argparse
import sys

from .errors import StoreError
from .store import add_references, index_store


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="crds_add_references", description="Put reference files into a store under a new CRDS context."
    )
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


def index_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="crds_index_store", description="Record the sha1 and size of every file of a store in its server_config."
    )
    parser.add_argument("--store", required=True, help="reference store directory (its server_config is rewritten)")
    args = parser.parse_args(argv)
    try:
        config = index_store(args.store)
    except (StoreError, OSError) as error:
        print(f"crds_index_store: error: {error}", file=sys.stderr)
        return 1
    context = config.get("operational_context")
    indexed = f"{len(config['download_metadata'])} files indexed"
    if context not in config["download_metadata"]:
        indexed += f"; its operational context {context!r} is not among them (give crds_fetch --context)"
    print(indexed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
