"""Step parameter files in ASDF beside the INI ones: the shipped .asdf say what their .cfg say, an ASDF file runs
a step as its .cfg does, and a bad one is refused in one line naming it, before anything runs."""

import re
import types

import asdf
import numpy as np
import pytest
from numpy.testing import assert_allclose

import liger_iris_pipeline
from commands import assert_one_line_error
from liger_iris_pipeline import ProcessImagerL2Pipeline, cli
from liger_iris_pipeline.parameter_files import (
    ParameterFileError,
    asdf_step_tree,
    check_parameter_file,
    main,
    shipped_asdf_differences,
    step_tree,
)
from liger_iris_pipeline.registry import STEPS

PIPELINE = "liger_iris_pipeline.ProcessImagerL2Pipeline"


def test_every_shipped_asdf_sets_what_its_cfg_sets():
    """The .cfg is the source of truth: each .asdf beside it holds its parameters (python -m
    liger_iris_pipeline.parameter_files rewrites them), and builds the same step."""
    assert shipped_asdf_differences() == []
    assert main(["--check"]) == 0
    for entry in STEPS:
        step_class = getattr(liger_iris_pipeline, entry.class_name)
        from_asdf = step_class.from_config_file(str(entry.asdf))
        assert from_asdf.get_pars() == step_class.from_config_file(str(entry.cfg)).get_pars(), entry.alias
        assert type(from_asdf) is step_class and from_asdf.name == entry.alias


def write_asdf(path, tree):
    asdf.AsdfFile(tree).write_to(path)
    return path


def l2_cfg(path, calibration_files):
    """A .cfg of ProcessImagerL2Pipeline that skips flat_field, the other steps' references given."""
    path.write_text(
        f'name = "l2"\nclass = "{PIPELINE}"\n[steps]\n  [[flat_field]]\n    skip = True\n'
        f'  [[dq_init]]\n    override_mask = "{calibration_files["mask"]}"\n'
        f'  [[dark_current]]\n    override_dark = "{calibration_files["dark"]}"\n'
        '  [[assign_wcs]]\n    override_distortion = "N/A"\n'
    )
    return path


def test_a_cfg_converted_to_asdf_runs_the_step_as_the_cfg_does(calibration_files, tmp_path):
    cfg = l2_cfg(tmp_path / "l2.cfg", calibration_files)
    assert main([str(cfg), str(tmp_path / "l2.asdf")]) == 0
    tree = asdf_step_tree(tmp_path / "l2.asdf")
    assert tree == step_tree(cfg)
    flat_field = next(step for step in tree["steps"] if step["name"] == "flat_field")
    assert flat_field == {"class": "liger_iris_pipeline.FlatFieldStep", "name": "flat_field", "parameters": {"skip": True}}

    result = ProcessImagerL2Pipeline.call(calibration_files["raw"], config_file=str(tmp_path / "l2.asdf"))
    assert result.meta.cal_step.flat_field == "SKIPPED" and result.meta.cal_step.dark_current == "COMPLETE"
    assert_allclose(result.data[0, 0], 10 - 2)  # dark subtracted, not divided by the flat (0.5)
    from_cfg = ProcessImagerL2Pipeline.call(calibration_files["raw"], config_file=str(cfg))
    assert_allclose(result.data, from_cfg.data)

    cfg.write_text(cfg.read_text().replace("skip = True", "skip = False"))
    assert asdf_step_tree(tmp_path / "l2.asdf") != step_tree(cfg)  # what --check reports for a shipped file


def test_keyword_arguments_override_an_asdf_file(calibration_files, tmp_path):
    path = write_asdf(
        tmp_path / "flat.asdf",
        {"class": "liger_iris_pipeline.FlatFieldStep", "name": "flat_field", "parameters": {"override_flat": "N/A"}},
    )
    skipped = liger_iris_pipeline.FlatFieldStep.call(calibration_files["raw"], config_file=str(path))
    assert skipped.meta.cal_step.flat_field == "SKIPPED"
    done = liger_iris_pipeline.FlatFieldStep.call(
        calibration_files["raw"], config_file=str(path), override_flat=str(calibration_files["flat"])
    )
    assert done.meta.cal_step.flat_field == "COMPLETE" and done.data[0, 0] == pytest.approx(20.0)


BAD_FILES = {
    "not ASDF": ("text", "not an ASDF file"),
    "broken YAML": (b"#ASDF 1.0.0\n%YAML 1.1\n--- {class: [unclosed\n", "not a readable ASDF file (line 4: expected ','"),
    "no YAML header": (
        f"#ASDF 1.0.0\nclass: {PIPELINE}\nname: l2\nparameters: {{}}\n",
        "not a readable parameter file (Invalid content between header and tree)",
    ),
    "no class": ({"name": "x", "parameters": {}}, "no class"),
    "no name": ({"class": PIPELINE, "parameters": {}}, "no name"),
    "class not a step": ({"class": "os.path.join", "name": "x", "parameters": {}}, "class os.path.join is not a step of"),
    "unknown parameter": ({"class": PIPELINE, "name": "l2", "parameters": {"sigmaa": 3}}, "Extra value 'sigmaa' in root"),
    "unknown step parameter": (
        {"class": PIPELINE, "name": "l2", "parameters": {}, "steps": [{"class": "liger_iris_pipeline.FlatFieldStep", "name": "flat_field", "parameters": {"sigma": 3}}]},
        "Extra value 'sigma' in steps/flat_field",
    ),
    "wrong type": ({"class": PIPELINE, "name": "l2", "parameters": {"skip": "sometimes"}}, "'skip': the value \"sometimes\" is of the wrong type"),
    "wrong type in a step": (
        {"class": PIPELINE, "name": "l2", "parameters": {}, "steps": [{"class": "liger_iris_pipeline.BackgroundStep", "name": "background", "parameters": {"sigma": [1, 2]}}]},
        "'steps/background/sigma': the value \"[1, 2]\" is of the wrong type",
    ),
    "null number": (
        {"class": PIPELINE, "name": "l2", "parameters": {}, "steps": [{"class": "liger_iris_pipeline.BackgroundStep", "name": "background", "parameters": {"sigma": None}}]},
        "steps/background/sigma is null: give a value of its type (default 3.0)",
    ),
    "a mapping for a value": ({"class": PIPELINE, "name": "l2", "parameters": {"suffix": {"a": 1}}}, "suffix: a dict is not a parameter value"),
    "another step in its place": (
        {"class": PIPELINE, "name": "l2", "parameters": {}, "steps": [{"class": "liger_iris_pipeline.DarkCurrentStep", "name": "flat_field", "parameters": {}}]},
        "steps/flat_field: class liger_iris_pipeline.DarkCurrentStep, but ProcessImagerL2Pipeline runs FlatFieldStep there",
    ),
    "no such step": (
        {"class": PIPELINE, "name": "l2", "parameters": {}, "steps": [{"class": "liger_iris_pipeline.FlatFieldStep", "name": "flat", "parameters": {}}]},
        "steps/flat: ProcessImagerL2Pipeline has no step flat",
    ),
}


def bad_file(tmp_path, content):
    path = tmp_path / "bad.asdf"
    if isinstance(content, dict):
        return write_asdf(path, content)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(("content", "problem"), BAD_FILES.values(), ids=BAD_FILES)
def test_a_bad_asdf_file_is_refused_in_one_line_naming_it(tmp_path, capsys, content, problem):
    """Refused before anything runs: the frame (which need not exist) is never opened."""
    path, frame = bad_file(tmp_path, content), str(tmp_path / "frame.fits")
    with pytest.raises(ParameterFileError, match=rf"^{re.escape(str(path))}: .*{re.escape(problem)}"):
        ProcessImagerL2Pipeline.call(frame, config_file=str(path))
    # tmtrun <file> (in this process: the file is refused before stpipe is called)
    status = cli.main([str(path), frame, f"--output-dir={tmp_path / 'out'}"])
    captured = capsys.readouterr()
    result = types.SimpleNamespace(returncode=status, stdout=captured.out, stderr=captured.err)
    assert_one_line_error(result, "tmtrun", f"{path}: ", problem)
    assert not (tmp_path / "out").exists()


def test_a_file_of_another_step_is_refused_by_the_step_it_is_given_to(calibration_files, tmp_path):
    """``tmtrun <file>`` runs the step the file names; ``<Step>.call`` runs its own, which a file of another
    would silently configure (stpipe ignores the class there)."""
    path = write_asdf(tmp_path / "dark.asdf", {"class": "liger_iris_pipeline.DarkCurrentStep", "name": "dark_current", "parameters": {}})
    with pytest.raises(ParameterFileError, match="dark.asdf: parameters of DarkCurrentStep .*, given to FlatFieldStep"):
        liger_iris_pipeline.FlatFieldStep.call(calibration_files["raw"], config_file=str(path))


def test_tmtrun_refuses_a_bad_asdf_file_with_exit_status_1(calibration_files, tmp_path):
    from test_cli import tmtrun

    path = write_asdf(tmp_path / "l2.asdf", {"class": PIPELINE, "name": "l2", "parameters": {"sigmaa": 3}})
    result = tmtrun(path, calibration_files["raw"], "--output-dir", tmp_path / "out")
    assert_one_line_error(result, "tmtrun", f"{path}: Extra value 'sigmaa' in root")
    assert not (tmp_path / "out").exists()


def test_a_class_the_file_names_is_never_imported(tmp_path, monkeypatch):
    """Only the package's registered steps are looked up; a module a file names is not imported (importing runs it)."""
    marker = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Step: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for path in (tmp_path / "planted.cfg", tmp_path / "planted.asdf"):
        if path.suffix == ".cfg":
            path.write_text('name = "x"\nclass = "planted.Step"\n')
        else:
            write_asdf(path, {"class": "planted.Step", "name": "x", "parameters": {}})
        with pytest.raises(ParameterFileError, match="class planted.Step is not a step of liger_iris_pipeline"):
            check_parameter_file(path)
    assert not marker.exists()


ARRAY = np.arange(3.0)
HOLDING_MORE = {
    "an array (binary block)": (lambda path: write_asdf(path, tree_with(ARRAY)), "holds binary blocks"),
    "an array (inline)": (lambda path: write_inline_array(path), "tag tag:stsci.edu:asdf/core/ndarray-1.1.0 refused"),
    "a Python tag": (
        lambda path: path.write_text(ASDF_HEADER + "class: !!python/object/apply:os.system ['touch executed']\nname: x\nparameters: {}\n...\n"),
        "tag tag:yaml.org,2002:python/object/apply:os.system refused",
    ),
    "a reference to another file": (
        lambda path: path.write_text(ASDF_HEADER + "class: liger_iris_pipeline.FlatFieldStep\nname: x\nparameters: {$ref: 'other.asdf#/p'}\n...\n"),
        "$ref refused",
    ),
    "aliases expanding enormously": (lambda path: path.write_text(ASDF_HEADER + alias_bomb() + "...\n"), "expand to more than 10000 YAML nodes"),
}
ASDF_HEADER = "#ASDF 1.0.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n"


def tree_with(value):
    return {"class": "liger_iris_pipeline.FlatFieldStep", "name": "flat_field", "parameters": {"suffix": value}}


def write_inline_array(path):
    asdf_file = asdf.AsdfFile(tree_with(ARRAY))
    asdf_file.set_array_storage(ARRAY, "inline")
    asdf_file.write_to(path)


def alias_bomb():
    """Ten levels of ten aliases each: 10 ** 10 nodes once expanded, a few hundred bytes written."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]" for level in range(1, 10)]
    return "\n".join(lines) + "\nclass: liger_iris_pipeline.FlatFieldStep\nname: x\nparameters: {}\n"


@pytest.mark.parametrize(("write", "problem"), HOLDING_MORE.values(), ids=HOLDING_MORE)
def test_an_asdf_file_holding_more_than_parameters_is_refused_before_it_is_built(tmp_path, monkeypatch, write, problem):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "step.asdf"
    write(path)
    with pytest.raises(ParameterFileError) as refused:
        check_parameter_file(path)
    assert str(refused.value).startswith(f"{path}: ") and problem in str(refused.value)
    assert not (tmp_path / "executed").exists()
