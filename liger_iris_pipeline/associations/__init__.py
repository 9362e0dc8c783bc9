"""JSON associations: products and their member exposures."""

from .association import AssociationError, Member, Product, is_association, load_association

__all__ = ["AssociationError", "Member", "Product", "is_association", "load_association"]
