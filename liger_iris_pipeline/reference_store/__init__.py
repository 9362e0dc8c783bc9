"""Reference store: references and versioned CRDS rules in the layout of a CRDS cache, and the fetch that
copies what a set of inputs needs from a store into the local CRDS cache."""

from .fetch import (
    FetchError,
    FetchResult,
    fetch_reference,
    fetch_references,
    select_references,
    store_context,
    write_bestrefs_table,
)
from .store import Store, StoreError, add_references

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
