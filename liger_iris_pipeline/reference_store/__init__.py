"""Reference store: references and versioned CRDS rules in the layout of a CRDS cache."""

from .store import Store, StoreError, add_references

__all__ = ["Store", "StoreError", "add_references"]
