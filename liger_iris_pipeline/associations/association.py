"""JSON associations (the jwst shape): which exposures make which product.

    {"asn_type": "image2", "asn_rule": "...", "asn_pool": "...",
     "products": [{"name": "<product>", "members": [{"expname": "<file>.fits", "exptype": "science"}]}]}

An association is read with the JSON parser (no code runs), validated against ``association.schema.json``,
and its members resolved relative to the association's own directory: a member outside that directory,
or one that does not exist, is an error naming the association and the member.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("association.schema.json")
#: Largest association read (bytes): thousands of members take a few hundred kilobytes.
MAX_ASSOCIATION_BYTES = 16 << 20


class AssociationError(ValueError):
    """An association that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Member:
    path: Path
    exptype: str


@dataclass(frozen=True)
class Product:
    name: str
    members: tuple[Member, ...]

    @property
    def science(self):
        return tuple(member.path for member in self.members if member.exptype == "science")

    @property
    def background(self):
        return tuple(member.path for member in self.members if member.exptype == "background")


def is_association(candidate):
    """True for a path ending in ``.json``: the inputs that go through ``load_association``."""
    return isinstance(candidate, (str, Path)) and str(candidate).lower().endswith(".json")


@cache
def _validator():
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def load_association(path):
    """The products of the association at ``path``, with member paths resolved and checked."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ASSOCIATION_BYTES:
            raise AssociationError(f"{path}: {size} bytes, more than an association may hold ({MAX_ASSOCIATION_BYTES})")
        document = json.loads(path.read_text())
    except OSError as error:
        raise AssociationError(f"{path}: cannot read ({error.strerror})") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AssociationError(f"{path}: not valid JSON ({error})") from error
    problem = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if problem is not None:
        where = "/".join(str(part) for part in problem.absolute_path) or "top level"
        raise AssociationError(f"{path}: invalid association at {where}: {problem.message}")
    directory = path.resolve().parent
    return tuple(
        Product(
            product["name"],
            tuple(Member(_member_path(path, directory, member["expname"]), member["exptype"]) for member in product["members"]),
        )
        for product in document["products"]
    )


def _member_path(association, directory, expname):
    member = (directory / expname).resolve()
    if not member.is_relative_to(directory):
        raise AssociationError(f"{association}: member {expname} is outside the association's directory")
    if not member.is_file():
        raise AssociationError(f"{association}: member {expname} not found")
    return member
