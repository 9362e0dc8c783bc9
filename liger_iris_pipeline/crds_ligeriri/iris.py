"""Instrument hooks crds looks for as ``crds.ligeriri.iris``: IRIS needs none."""
