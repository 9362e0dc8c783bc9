"""JSON associations: products and their member exposures."""

from .association import AssociationError, Member, Product, is_association, load_association
from .generate import generate_associations, write_associations

__all__ = [
    "AssociationError",
    "Member",
    "Product",
    "generate_associations",
    "is_association",
    "load_association",
    "write_associations",
]
