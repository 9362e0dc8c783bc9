"""Instrument hooks crds looks for as ``crds.ligeriri.liger``: Liger needs none."""
