"""The workflow's planning in the package (liger_iris_pipeline.workflow and the step registry), without Snakemake:
the night's files and names, the config checks, the selection's context, stale locks and code versions."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import asdf
import pytest
import yaml

import liger_iris_pipeline
from liger_iris_pipeline import parameter_files
from liger_iris_pipeline.code_version import code_files, code_version
from liger_iris_pipeline.registry import BY_ALIAS, STEPS
from liger_iris_pipeline.simulator import simulate_observation
from liger_iris_pipeline.workflow import locks
from liger_iris_pipeline.workflow.config import (
    MAX_CONFIG_NODES,
    ConfigFileError,
    check_config_file,
    check_workflow_owned_parameters,
    validate_config,
)
from liger_iris_pipeline.workflow.plan import plan_night
from liger_iris_pipeline.workflow.selection import check_context_settings, mark_context, recorded_context
from liger_iris_pipeline.workflow.step_parameters import check_step_parameters

REPOSITORY = Path(__file__).resolve().parent.parent
SCHEMA = REPOSITORY / "config" / "config.schema.yaml"
PACKAGE = Path(liger_iris_pipeline.__file__).parent


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """Two IRIS exposures with a GUIDE window each (the simulator's files, truth and catalogues included)."""
    directory = tmp_path_factory.mktemp("raw")
    simulate_observation(directory, instrument="IRIS", size=32, n_exposures=2, seed=5, subarrays=[("GUIDE", 1, 1, 8, 8)])
    return directory


def night_config(*observations, output="results"):
    return {
        "output_dir": output,
        "crds": {"store": "store", "context": None, "cache": "cache"},
        "observations": list(observations),
    }


def observation(name, *raw, **settings):
    return {"name": name, "instrument": "IRIS", "raw": list(raw), **settings}


SCI = "2027A-P001-001_IRIS_IMG1_SCI_LVL1_"


def test_a_night_is_planned_from_its_files_and_headers(raw):
    night = plan_night(
        night_config(
            observation(
                "field", f"{raw}/{SCI}[0-9][0-9][0-9][0-9].fits", subarrays=[f"{raw}/*_GUIDE_LVL1_*.fits"], merge_subarrays=True
            )
        )
    )
    assert sorted(night.frames["field"]) == sorted(
        [f"{SCI}0001", f"{SCI}0002", "2027A-P001-001_IRIS_IMG1_GUIDE_LVL1_0001", "2027A-P001-001_IRIS_IMG1_GUIDE_LVL1_0002"]
    )
    # Subarrays matched to their full frame on the EXPOSURE keyword.
    assert night.merges == {
        ("field", f"{SCI}0001"): ["2027A-P001-001_IRIS_IMG1_GUIDE_LVL1_0001"],
        ("field", f"{SCI}0002"): ["2027A-P001-001_IRIS_IMG1_GUIDE_LVL1_0002"],
    }
    assert night.calibrated()[0] == f"results/field/{SCI}0001_cal.fits"
    assert night.batches(3) == [("field", 1, sorted(night.frames["field"])[:3]), ("field", 2, sorted(night.frames["field"])[3:])]


def test_a_mosaic_takes_each_full_frame_exposure_once_merged_where_its_subarrays_are(raw):
    guide = {"subarrays": [f"{raw}/*_GUIDE_LVL1_*.fits"]}
    mosaics = plan_night(
        night_config(
            observation("merged", f"{raw}/{SCI}*[0-9].fits", **guide, merge_subarrays=True, mosaic=True),
            observation("unmerged", f"{raw}/{SCI}*[0-9].fits", **guide, mosaic=True),
            observation("plain", f"{raw}/{SCI}*[0-9].fits"),
        )
    ).mosaics
    assert mosaics == {
        "merged": [f"results/merged/{SCI}0001_merged.fits", f"results/merged/{SCI}0002_merged.fits"],
        "unmerged": [f"results/unmerged/{SCI}0001_cal.fits", f"results/unmerged/{SCI}0002_cal.fits"],
    }


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (f"{SCI}0001_truth.fits", "is a truth or catalogue file of the simulator, not a raw exposure"),
        ("IRIS_IMG1_FLAT_20200101T000000_1.fits", "is a reference file, not a raw exposure"),
        (f"{SCI}*.fits", "is a truth or catalogue file of the simulator"),  # a careless glob
        ("nothing_*.fits", "no raw file matches"),
    ],
)
def test_what_is_not_a_raw_exposure_is_refused(raw, pattern, problem):
    with pytest.raises(ConfigFileError, match="config: observation field: .*" + problem):
        plan_night(night_config(observation("field", f"{raw}/{pattern}")))


def test_products_of_the_workflow_and_files_under_the_output_directory_are_refused(raw, tmp_path):
    product = tmp_path / f"{SCI}0001_cal.fits"
    shutil.copy(raw / f"{SCI}0001.fits", product)
    with pytest.raises(ConfigFileError, match=f"{product} is a product of the workflow, not a raw exposure"):
        plan_night(night_config(observation("field", str(product))))
    inside = tmp_path / "results" / "earlier" / f"{SCI}0001.fits"
    inside.parent.mkdir(parents=True)
    shutil.copy(raw / f"{SCI}0001.fits", inside)
    with pytest.raises(ConfigFileError, match=f"{inside} lies under the output directory"):
        plan_night(night_config(observation("field", str(inside)), output=str(tmp_path / "results")))


def test_a_name_a_fits_header_cannot_hold_is_refused(raw, tmp_path):
    odd = tmp_path / "frame_caf\u00e9.fits"
    shutil.copy(raw / f"{SCI}0001.fits", odd)
    with pytest.raises(ConfigFileError, match="characters a FITS header cannot"):
        plan_night(night_config(observation("field", str(odd))))


def test_two_files_of_one_exposure_name_are_refused_naming_both(raw, tmp_path):
    copy = tmp_path / "other" / f"{SCI}0001.fits"
    copy.parent.mkdir()
    shutil.copy(raw / f"{SCI}0001.fits", copy)
    with pytest.raises(ConfigFileError) as refused:
        plan_night(night_config(observation("field", f"{raw}/{SCI}0001.fits", str(copy))))
    message = str(refused.value)
    assert f"{raw}/{SCI}0001.fits and {copy} are both exposure {SCI}0001" in message
    # The same file twice (two patterns matching it) is one exposure, not a clash.
    plan_night(night_config(observation("field", f"{raw}/{SCI}0001.fits", f"{raw}/{SCI}000[1].fits")))


def test_two_observations_of_one_name_or_a_reserved_name_are_refused(raw):
    one = observation("field", f"{raw}/{SCI}0001.fits")
    with pytest.raises(ConfigFileError, match="config: observations: two are named field"):
        plan_night(night_config(one, observation("field", f"{raw}/{SCI}0002.fits")))
    with pytest.raises(ConfigFileError, match="crds is a directory of the workflow's own"):
        plan_night(night_config(observation("crds", f"{raw}/{SCI}0001.fits")))


def test_a_subarray_without_its_full_frame_is_refused(raw):
    with pytest.raises(ConfigFileError, match="has no full frame of exposure 2"):
        plan_night(
            night_config(
                observation("field", f"{raw}/{SCI}0001.fits", subarrays=[f"{raw}/*_GUIDE_LVL1_*.fits"], merge_subarrays=True)
            )
        )


def write(path, text):
    path.write_text(text)
    return path


def test_a_config_whose_aliases_would_expand_enormously_is_refused_before_it_is_built(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")  # 10**9 nodes once expanded, 700 bytes
    with pytest.raises(ConfigFileError, match=f"bomb.yaml: its aliases expand to more than {MAX_CONFIG_NODES} YAML nodes"):
        check_config_file(bomb)
    check_config_file(write(tmp_path / "few.yaml", "a: &a [1, 2]\nb: *a\nc: *a\n"))  # ordinary aliases are fine


def test_a_config_larger_than_any_night_needs_or_not_text_is_refused(tmp_path):
    with pytest.raises(ConfigFileError, match="huge.yaml: 2097152 bytes, more than a config may hold"):
        check_config_file(write(tmp_path / "huge.yaml", "#" * (2 << 20)))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"output_dir: \xff\xfe\n")
    with pytest.raises(ConfigFileError, match="binary.yaml: not UTF-8 text"):
        check_config_file(binary)


def test_a_schema_error_is_one_line_with_the_path_of_the_key():
    config = yaml.safe_load((REPOSITORY / ".test" / "config" / "config.yaml").read_text())
    config["observations"][1]["raw"] = "a.fits"
    with pytest.raises(ConfigFileError) as refused:
        validate_config(config, SCHEMA, "my_night.yaml")
    assert str(refused.value) == "my_night.yaml: observations/1/raw: 'a.fits' is not of type 'array'"


@pytest.mark.parametrize("key", ["save_results", "output_dir", "output_file", "post_hooks"])
def test_step_parameters_the_workflow_owns_are_refused(key):
    with pytest.raises(ConfigFileError, match=f"steps/flat_field/parameters: {key} refused"):
        check_workflow_owned_parameters({key: "x", "skip": False}, "steps/flat_field/parameters")


def test_step_parameters_are_checked_against_the_steps_spec_and_the_check_remembered(tmp_path):
    cfg = REPOSITORY / "config" / "steps" / "background.cfg"
    state = tmp_path / "state"
    uses = [("background", cfg, {"sigma": 4.0}, "observations/0/steps/background")]
    check_step_parameters(uses, state)
    assert len(list(state.glob("step_parameters_*.ok"))) == 1
    with pytest.raises(ConfigFileError, match=f"{cfg} with observations/0/steps/background: .*'sigmaa'"):
        check_step_parameters([("background", cfg, {"sigmaa": 4.0}, "observations/0/steps/background")], state)
    with pytest.raises(ConfigFileError, match="observations/0/steps/background: .*sigma.*"):
        check_step_parameters([("background", cfg, {"sigma": "many"}, "observations/0/steps/background")], state)
    saving = write(tmp_path / "saving.cfg", 'name = "flat_field"\nclass = "liger_iris_pipeline.FlatFieldStep"\nsave_results = True\n')
    with pytest.raises(ConfigFileError, match="saving.cfg: save_results refused"):
        check_step_parameters([("flat_field", saving, {}, "steps/flat_field/parameters")], state)
    other = write(tmp_path / "other.cfg", 'class = "liger_iris_pipeline.DarkCurrentStep"\n')
    with pytest.raises(ConfigFileError, match="other.cfg: class = liger_iris_pipeline.DarkCurrentStep, but steps/flat_field runs FlatFieldStep"):
        check_step_parameters([("flat_field", other, {}, "steps/flat_field/parameters")], state)


def test_an_asdf_parameter_file_is_checked_like_a_cfg(tmp_path):
    """What tmtrun --save-parameters writes passes (every parameter, the workflow's own at their defaults); one of
    the workflow's set, an unknown parameter, another step's class or an unsafe file do not."""
    state = tmp_path / "state"
    cfg = REPOSITORY / "config" / "steps" / "background.cfg"
    converted = tmp_path / "background.asdf"
    assert parameter_files.main([str(cfg), str(converted)]) == 0
    check_step_parameters([("background", converted, {"sigma": 4.0}, "observations/0/steps/background")], state)
    with pytest.raises(ConfigFileError, match=f"{converted} with observations/0/steps/background: .*'sigmaa'"):
        check_step_parameters([("background", converted, {"sigmaa": 4.0}, "observations/0/steps/background")], state)

    saved = tmp_path / "saved.asdf"
    liger_iris_pipeline.BackgroundStep.from_config_file(str(cfg)).export_config(saved, include_metadata=True)
    assert {"save_results", "output_dir", "input_dir", "pre_hooks"} <= set(parameter_files.asdf_step_tree(saved)["parameters"])
    check_step_parameters([("background", saved, {}, "steps/background/parameters")], state)

    def edited(name, **parameters):
        tree = parameter_files.asdf_step_tree(saved)
        tree["parameters"].update(parameters)
        path = tmp_path / name
        asdf.AsdfFile(tree).write_to(path)
        return path

    for path, problem in (
        (edited("saving.asdf", save_results=True), "saving.asdf: save_results refused"),
        (edited("hooked.asdf", post_hooks=["touch x"]), "hooked.asdf: post_hooks refused"),
        (edited("elsewhere.asdf", output_dir="/tmp"), "elsewhere.asdf: output_dir refused"),
        (edited("unknown.asdf", sigmaa=4.0), "unknown.asdf: Extra value 'sigmaa' in root"),
        (edited("typed.asdf", sigma="many"), "typed.asdf: Config parameter 'sigma': the value \"many\" is of the wrong type"),
    ):
        with pytest.raises(ConfigFileError, match=re.escape(problem)):
            check_step_parameters([("background", path, {}, "steps/background/parameters")], state)
    with pytest.raises(ConfigFileError, match="saved.asdf: class = liger_iris_pipeline.background.background_step.BackgroundStep, but steps/flat_field runs FlatFieldStep"):
        check_step_parameters([("flat_field", saved, {}, "steps/flat_field/parameters")], state)
    text = tmp_path / "text.asdf"
    text.write_text("class = 'liger_iris_pipeline.BackgroundStep'\n")
    with pytest.raises(ConfigFileError, match="text.asdf: not an ASDF file"):
        check_step_parameters([("background", text, {}, "steps/background/parameters")], state)


def test_a_fixed_context_and_calibrations_do_not_go_together():
    check_context_settings({"crds": {"context": "ligeriri_0003.pmap"}})
    check_context_settings({"crds": {"context": None}, "calibrations": [{"name": "darks"}]})
    with pytest.raises(ConfigFileError, match="crds/context is ligeriri_0003.pmap but calibrations are configured"):
        check_context_settings({"crds": {"context": "ligeriri_0003.pmap"}, "calibrations": [{"name": "darks"}]})


def test_the_selection_marker_is_rewritten_only_when_the_context_differs_from_the_tables(tmp_path):
    marker, table = tmp_path / "crds" / "context.json", tmp_path / "crds" / "bestrefs.json"
    mark_context(marker, table, "ligeriri_0001.pmap")  # no table yet: the selection must run
    first = marker.read_text()
    table.write_text(json.dumps({"context": "ligeriri_0001.pmap", "bestrefs": {}}))
    assert recorded_context(table) == "ligeriri_0001.pmap"
    stamp = marker.stat().st_mtime_ns
    mark_context(marker, table, "ligeriri_0001.pmap")
    assert (marker.read_text(), marker.stat().st_mtime_ns) == (first, stamp)  # untouched
    mark_context(marker, table, "ligeriri_0002.pmap")
    assert marker.read_text() != first  # new content: Snakemake compares small inputs by checksum
    assert json.loads(marker.read_text())["context"] == "ligeriri_0002.pmap"


def test_locks_of_an_ended_snakemake_are_removed_and_others_kept(tmp_path):
    lock_directory = tmp_path / "locks"
    lock_directory.mkdir()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(ended.stdout)
    for name in ("0.input.lock", "0.output.lock", "1.input.lock", "1.output.lock", "2.input.lock"):
        (lock_directory / name).write_text("x\n")
    owners = {
        "ended": {"host": socket.gethostname(), "pid": dead_pid, "started": None, "locks": ["0.input.lock", "0.output.lock"]},
        "running": {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": locks._process_start(os.getpid()),
            "locks": ["1.input.lock", "1.output.lock"],
        },
        "elsewhere": {"host": "another-host", "pid": dead_pid, "started": None, "locks": ["2.input.lock"]},
    }
    for name, owner in owners.items():
        (lock_directory / f"{locks.OWNER_PREFIX}{name}.json").write_text(json.dumps(owner))
    assert locks.remove_stale_locks(lock_directory) == [
        f"removed the locks of snakemake process {dead_pid}, which has ended without removing them"
    ]
    assert sorted(path.name for path in lock_directory.glob("*.lock")) == ["1.input.lock", "1.output.lock", "2.input.lock"]


def test_a_reused_process_id_is_not_mistaken_for_the_locks_owner(tmp_path):
    (tmp_path / "0.input.lock").write_text("x\n")
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": "another boot:1", "locks": ["0.input.lock"]}
    (tmp_path / f"{locks.OWNER_PREFIX}{os.getpid()}.json").write_text(json.dumps(owner))
    assert len(locks.remove_stale_locks(tmp_path)) == 1
    assert not (tmp_path / "0.input.lock").exists()


def test_the_registry_agrees_with_the_step_classes():
    for entry in STEPS:
        step = getattr(liger_iris_pipeline, entry.class_name)
        assert step.__module__ == entry.module_name
        assert step.class_alias == entry.alias
        assert entry.cfg.is_file() and entry.asdf.is_file()
        if entry.is_pipeline:
            used = {reftype for sub in step.step_defs.values() for reftype in sub.reference_file_types}
        else:
            used = set(step.reference_file_types)
        assert set(entry.reftypes) == used, entry.alias


def test_a_steps_code_is_its_module_and_every_project_module_it_imports():
    files = {str(path.relative_to(PACKAGE.parent)) for path in code_files(BY_ALIAS["background"].module_name)}
    # Its folder, the modules it imports through others (stacking, subtraction, models) and their data files.
    for expected in (
        "liger_iris_pipeline/background/background_step.py",
        "liger_iris_pipeline/stack.py",
        "liger_iris_pipeline/subtract_images/subtract_images.py",
        "liger_iris_pipeline/datamodels/models.py",
        "liger_iris_pipeline/datamodels/schemas/imager.schema.yaml",
        "liger_iris_pipeline/crds_ligeriri/specs/combined_specs.json",
    ):
        assert expected in files, expected
    # Nothing it does not run.
    assert not any(part in name for name in files for part in ("flat_field/", "quicklook/", "assign_wcs/", "workflow/"))


def test_an_edit_of_an_imported_module_changes_the_version_of_the_steps_that_run_it(tmp_path):
    """On a copy of the package: stack.py changes the sky subtraction's version, not the flat field's."""
    shutil.copytree(PACKAGE, tmp_path / "liger_iris_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    steps = [BY_ALIAS["background"].module_name, BY_ALIAS["flat_field"].module_name]

    def versions():
        script = "import sys; from liger_iris_pipeline.code_version import code_version; print(*map(code_version, sys.argv[1:]))"
        result = subprocess.run(
            [sys.executable, "-c", script, *steps],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,  # not the repository, whose package would come first
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )
        return result.stdout.split()

    before = versions()
    assert before == [code_version(step) for step in steps]  # the copy is the package
    with open(tmp_path / "liger_iris_pipeline" / "stack.py", "a") as module:
        module.write("# edited\n")
    after = versions()
    assert after[0] != before[0] and after[1] == before[1]
    assert all(version.startswith(f"{liger_iris_pipeline.__version__}+") for version in after)


@pytest.mark.parametrize(
    "links, problem",
    [
        ({"dark": "nowhere"}, "calibration geometry: dark nowhere is not a dark calibration of this config"),
        ({"flat": "darks"}, "calibration geometry: flat darks is not a flat calibration of this config"),
        ({"catalog": "missing.ecsv"}, "calibration geometry: catalog missing.ecsv is not a file"),
        ({"dark": "darks", "flat": "flats"}, None),
    ],
)
def test_a_distortion_calibration_names_calibrations_of_the_right_type(raw, links, problem):
    frames = [f"{raw}/{SCI}[0-9][0-9][0-9][0-9].fits"]
    config = night_config(observation("field", *frames))
    config["calibrations"] = [
        {"name": "darks", "type": "dark", "instrument": "IRIS", "raw": frames},
        {"name": "flats", "type": "flat", "instrument": "IRIS", "raw": frames, "dark": "darks"},
        {"name": "geometry", "type": "distortion", "instrument": "IRIS", "raw": frames, **links},
    ]
    if problem is None:
        assert plan_night(config).calibrations["geometry"]["flat"] == "flats"
    else:
        with pytest.raises(ConfigFileError, match=problem):
            plan_night(config)


def test_only_a_distortion_calibration_takes_a_flat_or_a_catalogue(raw):
    frames = [f"{raw}/{SCI}[0-9][0-9][0-9][0-9].fits"]
    config = night_config(observation("field", *frames))
    config["calibrations"] = [{"name": "darks", "type": "dark", "instrument": "IRIS", "raw": frames, "flat": "darks"}]
    with pytest.raises(ConfigFileError, match="calibration darks: a dark calibration takes no flat"):
        plan_night(config)
