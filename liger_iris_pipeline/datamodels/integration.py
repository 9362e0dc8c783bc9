"""asdf entry point: makes our YAML schemas resolvable by their ``asdf://`` URIs."""

from pathlib import Path

from asdf.resource import DirectoryResourceMapping

SCHEMA_URI_PREFIX = "asdf://tmt.org/liger_iris_pipeline/schemas/"


def get_resource_mappings():
    schemas = Path(__file__).parent / "schemas"
    return [DirectoryResourceMapping(schemas, SCHEMA_URI_PREFIX, recursive=False, filename_pattern="*.yaml")]
