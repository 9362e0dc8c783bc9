"""Reference store: references and versioned CRDS rules in the layout of a CRDS cache, and the fetch that
copies what a set of inputs needs from a store into the local CRDS cache.

Modules, by concern: ``layout`` (directories, the file-name rule, the writers' lock), ``errors``,
``mappings`` (mapping text), ``transport`` (reading a store, with deadlines), ``server_config`` (a store's
config and context), ``cache`` (verified copies into the local cache), ``bestrefs`` (crds's choice), ``fetch``
(select and fetch, and ``crds_fetch``), ``store`` (the writer) and ``cli`` (``crds_add_references``).
"""

from ..lazy import lazy_attributes

# Loaded on first use: the workflow's planning needs only ``store_context`` and ``checked_name``, which import
# no crds (``bestrefs`` and ``store`` do).
_MODULES = {
    **dict.fromkeys(("FetchError", "LayoutError", "StoreError"), ".errors"),
    **dict.fromkeys(("checked_name", "NAME_RULES"), ".layout"),
    "store_context": ".server_config",
    **dict.fromkeys(
        (
            "FetchResult",
            "fetch_reference",
            "fetch_references",
            "select_references",
            "stale_checksum_warnings",
            "write_bestrefs_table",
        ),
        ".fetch",
    ),
    **dict.fromkeys(("Store", "add_references", "index_store"), ".store"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _MODULES)

__all__ = sorted(_MODULES, key=str.lower)
