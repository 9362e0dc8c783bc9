"""Configs, associations and stores are data: read with safe parsers, checked against their schemas, and
nothing in them is ever built into an object or executed. No parameter or option makes a run write over one of
its inputs or outside its output directory, or take a file name a FITS header cannot hold."""

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
CONFIG = yaml.safe_load((REPOSITORY / ".test" / "config" / "config.yaml").read_text())
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
        (lambda config: config.update(steps={"flat_field": {"skip": True}}), "('skip' was unexpected)"),
        (lambda config: config.update(steps={"flat_field": {"cfg": "flat.yaml"}}), "'flat.yaml' does not match"),
        (lambda config: config["observations"][0].update(exposure_time=10), "('exposure_time' was unexpected)"),
        (lambda config: config.update(keep_intermediate="yes"), "'yes' is not of type 'boolean'"),
        (lambda config: config["crds"].update(cache=7), "7 is not of type 'string'"),
        (lambda config: config["crds"].update(context="../ligeriri_0001.pmap"), "does not match"),
        (lambda config: config["observations"][0].update(instrument="NIRCAM"), "'NIRCAM' is not one of"),
        (lambda config: config["observations"][0].update(raw="a.fits"), "'a.fits' is not of type 'array'"),
        (
            lambda config: config.update(steps={"flat_field": {"parameters": {"post_hooks": ["touch x"]}}}),
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


@pytest.mark.parametrize("form", [".cfg", ".asdf"])
def test_a_step_hook_in_a_parameter_file_is_refused_not_run(tmp_path, form):
    """stpipe runs a hook that is not a Python name as a shell command; a parameter file that sets one is refused
    as it is read, and a step given one otherwise refuses it before it runs."""
    import asdf

    from frames import make_frame
    from liger_iris_pipeline import AssignWcsStep
    from liger_iris_pipeline.datamodels import DataModelError
    from liger_iris_pipeline.parameter_files import ParameterFileError

    marker = tmp_path / "executed"
    path = tmp_path / f"assign_wcs{form}"
    if form == ".cfg":
        path.write_text(f'name = "assign_wcs"\nclass = "liger_iris_pipeline.AssignWcsStep"\npost_hooks = "touch {marker}",\n')
    else:
        tree = {"class": "liger_iris_pipeline.AssignWcsStep", "name": "assign_wcs", "parameters": {"post_hooks": [f"touch {marker}"]}}
        asdf.AsdfFile(tree).write_to(path)
    with pytest.raises(ParameterFileError, match=f"assign_wcs{form}: post_hooks refused"):
        AssignWcsStep.call(make_frame(np.zeros((6, 8))), config_file=str(path), override_distortion="N/A")
    with pytest.raises(DataModelError, match="AssignWcsStep: post_hooks refused"):
        AssignWcsStep.call(make_frame(np.zeros((6, 8))), post_hooks=[f"touch {marker}"], override_distortion="N/A")
    assert not marker.exists()


# --- Inputs are never written, outputs stay in the output directory ----------------------------------------

RAW_NAME = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits"


def tmtrun(*args, cwd=None):
    import subprocess

    from commands import command

    return subprocess.run([command("tmtrun"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def digests(directory):
    """{name: sha256} of every file below ``directory``: what a refused run must leave as it was."""
    from frames import file_digest

    return {str(path.relative_to(directory)): file_digest(path) for path in sorted(directory.rglob("*")) if path.is_file()}


def test_output_file_and_suffix_that_name_the_raw_frame_are_refused_by_tmtrun(calibration_files):
    """The combination that overwrote the raw frame: output_dir its directory, output_file and suffix its name."""
    from commands import assert_one_line_error

    raw = calibration_files["raw"]
    before = digests(raw.parent)
    result = tmtrun(
        "dq_init", raw, "--output-dir", raw.parent, "--output-file", RAW_NAME.removesuffix("_0001.fits"), "--suffix", "0001",
        f"--override-mask={calibration_files['mask']}",
    )
    assert_one_line_error(result, "tmtrun", f"{RAW_NAME}: the output would overwrite the input {raw}")
    assert digests(raw.parent) == before


def test_tmtrun_output_file_with_a_directory_is_refused_and_makes_no_directory(calibration_files, tmp_path):
    """stpipe's own output_file type would make the directory while reading the parameters."""
    from commands import assert_one_line_error

    before = sorted(tmp_path.rglob("*"))
    result = tmtrun("dq_init", calibration_files["raw"], "--override-mask=N/A", "--output-dir", tmp_path / "out",
                    "--output-file=../escape/x.fits", cwd=tmp_path)
    assert_one_line_error(result, "tmtrun", "output_file '../escape/x.fits': a name may not contain a path separator")
    assert sorted(tmp_path.rglob("*")) == before and not (tmp_path.parent / "escape").exists()


def test_a_product_run_again_in_its_own_directory_is_refused(calibration_files, tmp_path):
    """A _cal frame through assign_wcs (suffix cal) in the current directory would be saved over itself."""
    from commands import assert_one_line_error
    from liger_iris_pipeline import AssignWcsStep

    cal = tmp_path / "frame_cal.fits"
    AssignWcsStep.call(calibration_files["raw"], override_distortion="N/A").save(cal)
    before = digests(tmp_path)
    result = tmtrun("assign_wcs", cal.name, "--override_distortion=N/A", cwd=tmp_path)
    assert_one_line_error(result, "tmtrun", "frame_cal.fits: the output would overwrite the input")
    assert digests(tmp_path) == before


def renamed(path, name):
    """``path`` moved to ``name`` beside it."""
    return path.rename(path.with_name(name))


def link_to_input_directory(tmp_path, raw):
    link = tmp_path / "linked_out"
    link.symlink_to(raw.parent, target_is_directory=True)
    return link


def hard_link_beside(tmp_path, raw):
    """An output directory holding, under the output's name, a hard link to the raw frame."""
    out = tmp_path / "hard_out"
    out.mkdir()
    (out / RAW_NAME.replace(".fits", "_dqinit.fits")).hardlink_to(raw)
    return out


#: Every way a step saves, each steered onto an input: (step, its parameters given the fixture's paths).
WRITERS = {
    "step-output-file-and-suffix": lambda paths, tmp_path: (
        "DQInitStep",
        {"output_dir": str(paths["raw"].parent), "output_file": RAW_NAME.removesuffix("_0001.fits"), "suffix": "0001"},
    ),
    "pipeline-sub-step": lambda paths, tmp_path: (
        "ProcessImagerL2Pipeline",
        {
            "output_dir": str(paths["raw"].parent),
            "steps": {"dq_init": {"save_results": True, "output_file": RAW_NAME.removesuffix("_0001.fits"), "suffix": "0001"}},
        },
    ),
    "over-a-reference": lambda paths, tmp_path: (
        "DQInitStep",
        {"output_dir": str(tmp_path), "output_file": "ref", "suffix": "mask", "override_mask": str(renamed(paths["mask"], "ref_mask.fits"))},
    ),
    "output-dir-a-symbolic-link": lambda paths, tmp_path: (
        "DQInitStep",
        {"output_dir": str(link_to_input_directory(tmp_path, paths["raw"])), "output_file": RAW_NAME.removesuffix("_0001.fits"), "suffix": "0001"},
    ),
    "output-a-hard-link": lambda paths, tmp_path: (
        "DQInitStep",
        {"output_dir": str(hard_link_beside(tmp_path, paths["raw"])), "save_results": True},
    ),
}


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS)
def test_no_save_of_any_step_writes_over_an_input(calibration_files, tmp_path, writer):
    import liger_iris_pipeline
    from liger_iris_pipeline.base_step import StepInputError

    step, parameters = writer(calibration_files, tmp_path)
    parameters = {"override_mask": str(calibration_files["mask"]), **parameters} if step == "DQInitStep" else parameters
    if step == "ProcessImagerL2Pipeline":
        for name, reference in (("dq_init", "mask"), ("dark_current", "dark"), ("flat_field", "flat")):
            parameters["steps"].setdefault(name, {})[f"override_{reference}"] = str(calibration_files[reference])
    before = digests(tmp_path)
    with pytest.raises(StepInputError, match="the output would overwrite the input"):
        getattr(liger_iris_pipeline, step).call(str(calibration_files["raw"]), **parameters)
    assert digests(tmp_path) == before


def test_an_association_product_named_onto_its_member_is_refused(calibration_files):
    """Outputs of an association are named after their product: that name too is checked."""
    import json

    from liger_iris_pipeline import DQInitStep
    from liger_iris_pipeline.base_step import StepInputError

    raw = calibration_files["raw"]
    association = raw.parent / "asn.json"
    product = {"name": RAW_NAME.removesuffix("_0001.fits"), "members": [{"expname": RAW_NAME, "exptype": "science"}]}
    association.write_text(json.dumps({"asn_type": "image2", "products": [product]}))
    before = digests(raw.parent)
    with pytest.raises(StepInputError, match=f"{RAW_NAME}: the output would overwrite the input"):
        DQInitStep.call(str(association), override_mask="N/A", output_dir=str(raw.parent), save_results=True, suffix="0001")
    assert digests(raw.parent) == before


def test_a_reference_product_named_like_one_of_its_exposures_is_refused(tmp_path):
    """The master dark's own naming (reference_file_name) is checked like stpipe's."""
    from frames import make_frame
    from liger_iris_pipeline import MasterDarkStep
    from liger_iris_pipeline.base_step import StepInputError

    paths = [tmp_path / "IRIS_IMG1_DARK_20270501T080000_1.fits", tmp_path / "dark_2.fits"]
    for path in paths:
        frame = make_frame(np.ones((6, 8)), err=np.ones((6, 8)))
        frame.meta.exposure.type = "DARK"
        frame.save(path)
    before = digests(tmp_path)
    with pytest.raises(StepInputError, match="IRIS_IMG1_DARK_20270501T080000_1.fits: the output would overwrite the input"):
        MasterDarkStep.call([str(path) for path in paths], output_dir=str(tmp_path), save_results=True)
    assert digests(tmp_path) == before


def test_an_output_that_resolves_outside_the_output_directory_is_refused(calibration_files, tmp_path):
    """A symbolic link in the output directory, under the output's name, pointing elsewhere."""
    from liger_iris_pipeline import DQInitStep
    from liger_iris_pipeline.base_step import StepInputError

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere.fits"
    out.mkdir()
    elsewhere.write_text("someone else's file")
    (out / RAW_NAME.replace(".fits", "_dqinit.fits")).symlink_to(elsewhere)
    with pytest.raises(StepInputError, match=f"_dqinit.fits: the output would lie outside the output directory {out}"):
        DQInitStep.call(str(calibration_files["raw"]), override_mask="N/A", output_dir=str(out), save_results=True)
    assert elsewhere.read_text() == "someone else's file"


BAD_NAME_PARAMETERS = {
    "output-file-up": ({"output_file": "../x.fits"}, "output_file '../x.fits': a name may not contain a path separator or '..'"),
    "output-file-absolute": ({"output_file": "/tmp/x.fits"}, "output_file '/tmp/x.fits': a name may not contain"),
    "output-file-new-directories": ({"output_file": "made/by/stpipe/x.fits"}, "output_file 'made/by/stpipe/x.fits': a name may not"),
    "suffix-up": ({"suffix": "../../dqinit"}, "suffix '../../dqinit': a name may not contain"),
    "suffix-directory": ({"suffix": "sub/dqinit"}, "suffix 'sub/dqinit': a name may not contain"),
    "output-ext": ({"output_ext": ".fits/../x"}, "output_ext '.fits/../x': a name may not contain"),
    "output-file-not-ascii": ({"output_file": "caf\u00e9.fits"}, "output_file 'caf\u00e9.fits': a file name a FITS header cannot hold"),
}


@pytest.mark.parametrize("parameters, problem", BAD_NAME_PARAMETERS.values(), ids=BAD_NAME_PARAMETERS)
def test_a_name_parameter_holding_a_path_is_refused_before_any_work(calibration_files, tmp_path, monkeypatch, parameters, problem):
    from liger_iris_pipeline import DQInitStep
    from liger_iris_pipeline.base_step import StepInputError

    work = tmp_path / "work" / "out"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = digests(tmp_path), sorted(tmp_path.rglob("*"))
    with pytest.raises(StepInputError) as error:
        DQInitStep.call(str(calibration_files["raw"]), override_mask="N/A", output_dir=str(work), save_results=True, **parameters)
    assert problem in str(error.value)
    assert (digests(tmp_path), sorted(tmp_path.rglob("*"))) == before  # no file written, no directory made


def test_a_sub_step_output_directory_outside_the_run_is_refused_before_any_work(calibration_files, tmp_path):
    from liger_iris_pipeline import ProcessImagerL2Pipeline
    from liger_iris_pipeline.base_step import StepInputError

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    steps = {"flat_field": {"output_dir": str(elsewhere), "save_results": True}}
    with pytest.raises(StepInputError, match=f"flat_field: output_dir {elsewhere} lies outside the run's {out}"):
        ProcessImagerL2Pipeline.call(str(calibration_files["raw"]), output_dir=str(out), steps=steps)
    assert not elsewhere.exists() and not out.exists()


@pytest.mark.parametrize("name", ["raw_caf\u00e9.fits", "raw_\x07bell.fits", "raw\nline.fits"], ids=["non-ascii", "bell", "newline"])
def test_a_file_name_a_fits_header_cannot_hold_is_refused_in_one_line_before_any_work(calibration_files, tmp_path, name):
    from commands import assert_one_line_error

    raw = tmp_path / "in" / name
    raw.parent.mkdir()
    raw.write_bytes(calibration_files["raw"].read_bytes())
    out = tmp_path / "out"
    result = tmtrun("dq_init", raw, "--output-dir", out, f"--override-mask={calibration_files['mask']}")
    assert_one_line_error(result, "tmtrun", f"{name!r}: a file name a FITS header cannot hold")
    assert "dq_init done" not in result.stdout
    assert not out.exists() or not any(out.iterdir())


def test_a_reference_whose_name_a_fits_header_cannot_hold_is_refused(calibration_files, tmp_path):
    from liger_iris_pipeline import FlatFieldStep
    from liger_iris_pipeline.base_step import StepInputError

    flat = tmp_path / "flat_\u00e9t\u00e9.fits"
    flat.write_bytes(calibration_files["flat"].read_bytes())
    with pytest.raises(StepInputError, match="'flat_\u00e9t\u00e9.fits': a file name a FITS header cannot hold"):
        FlatFieldStep.call(str(calibration_files["raw"]), override_flat=str(flat))


@pytest.mark.parametrize("option", ["--log-file", "--save-parameters"])
@pytest.mark.parametrize("form", ["joined", "separate"])
def test_tmtrun_options_that_write_a_file_never_name_an_input(calibration_files, option, form):
    from commands import assert_one_line_error

    raw = calibration_files["raw"]
    before = digests(raw.parent)
    options = [f"{option}={raw}"] if form == "joined" else [option, raw]
    result = tmtrun("dq_init", raw, "--override-mask=N/A", "--output-dir", raw.parent / "out", *options)
    assert_one_line_error(result, "tmtrun", f"{raw}: {option} would write over the input {raw}")
    assert digests(raw.parent) == before


def test_tmtrun_log_file_is_refused_on_an_association_member(calibration_files, tmp_path):
    import json

    from commands import assert_one_line_error

    raw = calibration_files["raw"]
    association = raw.parent / "asn.json"
    association.write_text(json.dumps({"asn_type": "image2", "products": [{"name": "p", "members": [{"expname": RAW_NAME, "exptype": "science"}]}]}))
    before = digests(raw.parent)
    result = tmtrun("dq_init", association, "--override-mask=N/A", f"--log-file={raw}")
    assert_one_line_error(result, "tmtrun", f"--log-file would write over the input {raw}")
    assert digests(raw.parent) == before


def test_output_path_checks_compare_files_not_spellings(tmp_path):
    from liger_iris_pipeline.output_paths import OutputPathError, check_output_path, is_within, same_file

    raw, other = tmp_path / "raw.fits", tmp_path / "other.fits"
    raw.write_text("raw")
    other.write_text("other")
    (tmp_path / "hard.fits").hardlink_to(raw)
    (tmp_path / "soft.fits").symlink_to(raw)
    (tmp_path / "up").symlink_to(tmp_path.parent, target_is_directory=True)
    assert same_file(tmp_path / "hard.fits", raw) and same_file(tmp_path / "soft.fits", raw)
    assert same_file(tmp_path / "." / "raw.fits", raw)
    assert not same_file(other, raw) and not same_file(tmp_path / "missing.fits", raw)
    assert is_within(tmp_path / "new.fits", tmp_path) and not is_within(tmp_path / "up" / "x.fits", tmp_path)
    check_output_path(tmp_path / "new.fits", [raw], tmp_path)
    for path in (tmp_path / "hard.fits", tmp_path / "soft.fits"):
        with pytest.raises(OutputPathError, match=f"{path}: the output would overwrite the input {raw}"):
            check_output_path(path, [raw])
    with pytest.raises(OutputPathError, match="the output would lie outside the output directory"):
        check_output_path(tmp_path / "up" / "x.fits", [], tmp_path)
