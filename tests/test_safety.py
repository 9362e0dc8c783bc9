"""Configs, associations and stores are data: read with safe parsers, checked against their schemas, and
nothing in them is ever built into an object or executed."""

import copy
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from liger_iris_pipeline.associations import AssociationError, load_association
from liger_iris_pipeline.reference_store import FetchError, store_context
from liger_iris_pipeline.workflow.config import ConfigFileError, check_config_file

REPOSITORY = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((REPOSITORY / "config" / "config.yaml").read_text())
SCHEMA = yaml.safe_load((REPOSITORY / "config" / "config.schema.yaml").read_text())


def schema_problem(config):
    """The schema's message for ``config``, or None when it is valid."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config))
    return error and error.message


def test_the_shipped_config_is_valid():
    assert schema_problem(CONFIG) is None


def objects_in(schema, where="schema"):
    """(place, sub-schema) of every object the schema describes."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield where, schema
        for key, value in schema.items():
            yield from objects_in(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from objects_in(value, f"{where}/{index}")


def test_every_object_of_the_config_schema_refuses_unknown_keys():
    """Fixed objects say ``additionalProperties: false``; parameter maps give every value a scalar type."""
    for where, schema in objects_in(SCHEMA):
        extra = schema.get("additionalProperties")
        assert extra is False or (isinstance(extra, dict) and "type" in extra), where


def edited(change):
    config = copy.deepcopy(CONFIG)
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda config: config.update(outputdir="x"), "Additional properties are not allowed ('outputdir' was unexpected)"),
        (lambda config: config["crds"].update(server="x"), "Additional properties are not allowed ('server' was unexpected)"),
        (lambda config: config["steps"]["flat_field"].update(skip=True), "('skip' was unexpected)"),
        (lambda config: config["observations"][0].update(exposure_time=10), "('exposure_time' was unexpected)"),
        (lambda config: config.update(keep_intermediate="yes"), "'yes' is not of type 'boolean'"),
        (lambda config: config["crds"].update(cache=7), "7 is not of type 'string'"),
        (lambda config: config["crds"].update(context="../ligeriri_0001.pmap"), "does not match"),
        (lambda config: config["observations"][0].update(instrument="NIRCAM"), "'NIRCAM' is not one of"),
        (lambda config: config["observations"][0].update(raw="a.fits"), "'a.fits' is not of type 'array'"),
        (
            lambda config: config["steps"]["flat_field"].update(parameters={"post_hooks": ["touch x"]}),
            "['touch x'] is not of type 'string', 'number', 'boolean', 'null'",
        ),
    ],
)
def test_the_config_schema_refuses_unknown_keys_and_wrong_types(change, message):
    assert message in (schema_problem(edited(change)) or "valid")


PAYLOADS = {
    "python-object": ("output_dir: !!python/object/apply:os.system ['touch {marker}']\n", "python/object/apply:os.system"),
    "python-new": ("output_dir: !!python/object/new:pathlib.Path ['{marker}']\n", "python/object/new:pathlib.Path"),
    "python-name": ("output_dir: !!python/name:os.system\n", "python/name:os.system"),
}


@pytest.mark.parametrize("payload, tag", PAYLOADS.values(), ids=PAYLOADS)
def test_a_python_tag_in_a_config_is_refused(tmp_path, payload, tag):
    config = tmp_path / "config.yaml"
    config.write_text("steps: {}\n" + payload.format(marker=tmp_path / "executed"))
    with pytest.raises(ConfigFileError, match=f"config.yaml: line 2: could not determine a constructor for the tag .*{tag}"):
        check_config_file(config)
    assert not (tmp_path / "executed").exists()


def test_a_yte_template_is_refused_though_snakemake_would_run_it(tmp_path):
    from snakemake.common.configfile import load_configfile

    marker = tmp_path / "executed"
    config = tmp_path / "config.yaml"
    config.write_text(f"__use_yte__: true\noutput_dir: ?__import__('pathlib').Path('{marker}').touch() or 'x'\n")
    with pytest.raises(ConfigFileError, match="config.yaml: __use_yte__ is refused"):
        check_config_file(config)
    assert not marker.exists()
    load_configfile(str(config))  # what the check guards against: Snakemake's loader runs the expression
    assert marker.exists()


def test_an_association_is_read_as_json_only(tmp_path):
    association = tmp_path / "asn.json"
    association.write_text(f"asn_type: !!python/object/apply:os.system ['touch {tmp_path / 'executed'}']\n")
    with pytest.raises(AssociationError, match="asn.json: not valid JSON"):
        load_association(association)
    assert not (tmp_path / "executed").exists()


def test_a_store_config_is_a_literal_never_evaluated(tmp_path):
    config = tmp_path / "store" / "config" / "ligeriri" / "server_config"
    config.parent.mkdir(parents=True)
    config.write_text(f"__import__('pathlib').Path('{tmp_path / 'executed'}').touch()")
    with pytest.raises(FetchError, match="server_config: not a server_config"):
        store_context(tmp_path / "store")
    assert not (tmp_path / "executed").exists()


def test_a_step_hook_in_a_parameter_file_is_refused_not_run(tmp_path):
    """stpipe runs a hook that is not a Python name as a shell command; our steps refuse hooks."""
    from frames import make_frame
    from liger_iris_pipeline import AssignWcsStep
    from liger_iris_pipeline.datamodels import DataModelError

    marker = tmp_path / "executed"
    cfg = tmp_path / "assign_wcs.cfg"
    cfg.write_text(f'name = "assign_wcs"\nclass = "liger_iris_pipeline.AssignWcsStep"\npost_hooks = "touch {marker}",\n')
    with pytest.raises(DataModelError, match="assign_wcs: post_hooks refused"):
        AssignWcsStep.call(make_frame(np.zeros((6, 8))), config_file=str(cfg))
    assert not marker.exists()
