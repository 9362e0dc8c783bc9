"""Reference store: references and versioned CRDS rules in the layout of a CRDS cache, and the fetch that
copies what a set of inputs needs from a store into the local CRDS cache."""

from ..lazy import lazy_attributes

# Loaded on first use: the workflow's Snakefile needs only ``store_context``, and ``fetch`` imports crds.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "FetchError",
                "FetchResult",
                "fetch_reference",
                "fetch_references",
                "select_references",
                "store_context",
                "write_bestrefs_table",
            ),
            ".fetch",
        ),
        **dict.fromkeys(("Store", "StoreError", "add_references"), ".store"),
    },
)

__all__ = [
    "FetchError",
    "FetchResult",
    "Store",
    "StoreError",
    "add_references",
    "fetch_reference",
    "fetch_references",
    "select_references",
    "store_context",
    "write_bestrefs_table",
]
