"""Sphinx extension: the reference pages that come from the package itself, so they cannot drift from it.

- One page per registered step or pipeline (the step registry, read through the ``stpipe.steps`` entry point),
  written at each build into ``api/generated/steps/<alias>.rst``: its docstring, a table of its parameters
  parsed from its ``spec`` string (type, default and the spec's comment) plus ``override_<reftype>`` for each
  of its ``reference_file_types``, the CRDS rules that select those references, its status keyword (from
  the data-model schema) and its shipped parameter files (the ``.cfg``, and the tree of the ``.asdf`` written
  from it).
- One page per module group of the package (``api/generated/modules/<name>.rst``), by autodoc.
- Tables: every step (``step-summary``), the parameters every step has (``step-common-parameters``), the
  CRDS rules (``crds-rules``, from the plug-in's ``combined_specs.json``), the DQ bits (``dq-flags``) and the
  imagers (``imager-table``).

A new step needs no edit here: registering it in ``liger_iris_pipeline/registry.py`` gives it a page.
"""

import importlib
import importlib.util
import json
import pkgutil
from pathlib import Path

from configobj import ConfigObj, validate
from stpipe import config_parser
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

PACKAGE = "liger_iris_pipeline"
PACKAGE_DIRECTORY = Path(importlib.util.find_spec(PACKAGE).origin).parent
CRDS_SPECS = PACKAGE_DIRECTORY / "crds_ligeriri" / "specs" / "combined_specs.json"
SCHEMAS = PACKAGE_DIRECTORY / "datamodels" / "schemas"
#: Where the step and module pages are written at each build (not in git).
GENERATED = Path("api") / "generated"
#: Parses a configobj check such as ``string(default='dqinit')`` into its type, arguments and default.
_SPEC_VALIDATOR = validate.Validator()


def registered_steps():
    """[(alias, class, is_pipeline)] in the order of the ``stpipe.steps`` entry point."""
    from liger_iris_pipeline.integration import get_steps

    steps = []
    for class_path, alias, is_pipeline in get_steps():
        module_name, class_name = class_path.rsplit(".", 1)
        steps.append((alias, getattr(importlib.import_module(module_name), class_name), is_pipeline))
    return steps


def step_class(alias):
    for name, cls, is_pipeline in registered_steps():
        if name == alias:
            return cls, is_pipeline
    raise ValueError(
        f"{alias!r} is not a registered step; known: {', '.join(name for name, _, _ in registered_steps())}"
    )


def public_name(cls):
    """The name a step is imported by: from the package's top level when it is exported there."""
    package = importlib.import_module(PACKAGE)
    return (
        f"{PACKAGE}.{cls.__name__}"
        if getattr(package, cls.__name__, None) is cls
        else f"{cls.__module__}.{cls.__name__}"
    )


def step_page(alias):
    return f"/{GENERATED.as_posix()}/steps/{alias}"


# --- RST text helpers ---------------------------------------------------------------------------------------


def list_table(header, rows, widths=None):
    """Lines of an RST list-table; cells are RST text."""
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *rows]:
        first, *rest = row
        lines.append(f"   * - {first or ' '}")
        lines += [f"     - {cell or ' '}" for cell in rest]
    return lines + [""]


def literal(text):
    return f"``{text}``" if text not in (None, "") else ""


def section(title, underline="-"):
    return ["", title, underline * len(title), ""]


# --- Parameters ----------------------------------------------------------------------------------------------


def parameter_rows(spec):
    """(name, type, default, description) of each entry of a configobj ``spec`` (a ConfigObj)."""
    rows = []
    for name, check in spec.items():
        if isinstance(check, dict):  # a pipeline's [steps] section: documented on the steps' own pages
            continue
        kind, args, kwargs, default = _SPEC_VALIDATOR._parse_with_caching(check)
        constraints = [repr(arg) for arg in args] + [f"{key}={value}" for key, value in kwargs.items()]
        kind = f"{kind}({', '.join(constraints)})" if constraints else kind
        description = spec.inline_comments.get(name) or ""
        rows.append((name, kind, default, description.lstrip("# ").strip()))
    return rows


def reference_types(cls):
    """A step's ``reference_file_types``; none for a pipeline (where it is a property: those of its steps)."""
    value = getattr(cls, "reference_file_types", [])
    return list(value) if isinstance(value, (list, tuple)) else []


def own_spec(cls):
    """The parameters a step class declares itself, plus ``override_<reftype>`` for each of its references."""
    merged = cls.load_spec_file()  # with the inherited parameters, values and comments parsed
    own = config_parser.load_spec_file(cls) or {}  # the class's own spec string only, unparsed
    spec = ConfigObj()
    for name in own:
        spec[name] = merged[name]
        spec.inline_comments[name] = merged.inline_comments.get(name)
    for reftype in reference_types(cls):
        spec[f"override_{reftype}"] = "is_string_or_datamodel(default=None)"
        spec.inline_comments[f"override_{reftype}"] = (
            f"# A {reftype} reference file to use instead of the one CRDS selects; 'N/A' skips the step"
        )
    if reference_types(cls):  # every step that reads references has it (base_step.ReferenceStep)
        spec["allow_reference_mismatch"] = merged["allow_reference_mismatch"]
        spec.inline_comments["allow_reference_mismatch"] = merged.inline_comments["allow_reference_mismatch"]
    return spec


def parameter_table(spec):
    rows = [
        (literal(name), literal(kind), literal(default), text) for name, kind, default, text in parameter_rows(spec)
    ]
    return list_table(("Parameter", "Type", "Default", "Description"), rows, widths=(20, 20, 15, 45))


# --- Facts about a step from the package -----------------------------------------------------------------------


def crds_specs():
    """{instrument: {reftype: spec}} of the CRDS plug-in: the reference types and their selection parkeys."""
    return json.loads(CRDS_SPECS.read_text())


def crds_rules_table(reftypes=None):
    """Lines of a table of the CRDS rules of ``reftypes`` (default: all) for each instrument."""
    rows = []
    for instrument, types in sorted(crds_specs().items()):
        for reftype, spec in sorted(types.items()):
            if reftypes is None or reftype in reftypes:
                match, useafter = spec["parkey"]
                rows.append(
                    (
                        instrument.upper(),
                        literal(reftype),
                        spec["text_descr"],
                        ", ".join(map(literal, match)),
                        ", ".join(map(literal, useafter)),
                    )
                )
    return list_table(("Instrument", "Reference type", "What", "Match on", "UseAfter"), rows)


def schema_node(schema, path):
    """The sub-schema at ``path`` (property names) of a data-model schema, looking through ``allOf``."""
    for part in path:
        for candidate in [schema, *schema.get("allOf", [])]:
            if part in candidate.get("properties", {}):
                schema = candidate["properties"][part]
                break
        else:
            return None
    return schema


def status_keyword(cls):
    """The FITS keyword of ``meta.cal_step.<class_alias>`` in the imager schema (S_DQINIT, ...), or None."""
    from liger_iris_pipeline.datamodels import ImagerModel

    node = schema_node(ImagerModel().schema, ("meta", "cal_step", cls.class_alias))
    return node.get("fits_keyword") if node else None


def default_suffix(cls):
    spec = cls.load_spec_file()
    _, _, _, default = _SPEC_VALIDATOR._parse_with_caching(spec["suffix"])
    return default


def shipped_config(alias):
    """(path, text) of the ``.cfg`` the package ships for ``alias``."""
    from liger_iris_pipeline.config import default_config

    path = default_config(alias)
    return path, Path(path).read_text()


def shipped_asdf(alias):
    """(path, YAML text) of the ASDF parameter file the package ships for ``alias``: its step tree (class, name,
    parameters, steps) without ASDF's bookkeeping."""
    import yaml
    from liger_iris_pipeline.parameter_files import asdf_step_tree
    from liger_iris_pipeline.registry import BY_ALIAS

    path = BY_ALIAS[alias].asdf
    return path, yaml.safe_dump(asdf_step_tree(path), sort_keys=False)


# --- Directives ------------------------------------------------------------------------------------------------


class GeneratedRst(SphinxDirective):
    """A directive whose output is RST text made from the package; the page is rebuilt when this extension
    or a file given to ``depend_on`` changes."""

    def rst_lines(self):
        raise NotImplementedError

    def depend_on(self, *paths):
        for path in paths:
            self.env.note_dependency(str(path))

    def run(self):
        self.depend_on(__file__)
        return nested_parse_to_nodes(self.state, "\n".join(self.rst_lines()), source=f"<{self.name} directive>")


class StepSummary(GeneratedRst):
    """``.. step-summary::``: a table of every registered step and pipeline, and the toctree of their pages."""

    def rst_lines(self):
        rows = []
        self.depend_on(
            SCHEMAS / "core.schema.yaml",
            *(importlib.import_module(cls.__module__).__file__ for _, cls, _ in registered_steps()),
        )
        for alias, cls, is_pipeline in registered_steps():
            references = ", ".join(reference_types(cls)) or "—"
            if is_pipeline:
                references = "those of its steps"
            rows.append(
                (
                    f":doc:`{alias} <{step_page(alias)}>`",
                    f":class:`~{public_name(cls)}`",
                    "pipeline" if is_pipeline else "step",
                    references,
                    literal(status_keyword(cls)) if not is_pipeline else "those of its steps",
                    literal(f"_{default_suffix(cls)}"),
                )
            )
        lines = list_table(("Alias", "Class", "Kind", "References", "Status keyword", "Output suffix"), rows)
        lines += [".. toctree::", "   :hidden:", ""]
        lines += [f"   {step_page(alias)}" for alias, _, _ in registered_steps()]
        return lines


class StepCommonParameters(GeneratedRst):
    """``.. step-common-parameters::``: the parameters every step inherits from stpipe and our base class."""

    def rst_lines(self):
        from liger_iris_pipeline import base_step

        self.depend_on(base_step.__file__)
        return parameter_table(base_step.LigerIrisStep.load_spec_file())


class StepReference(GeneratedRst):
    """``.. step-reference:: <alias>``: the body of a step's or pipeline's page."""

    required_arguments = 1

    def rst_lines(self):
        alias = self.arguments[0]
        cls, is_pipeline = step_class(alias)
        name = public_name(cls)
        cfg_path, cfg_text = shipped_config(alias)
        asdf_path, asdf_text = shipped_asdf(alias)
        self.depend_on(
            cfg_path, asdf_path, importlib.import_module(cls.__module__).__file__, CRDS_SPECS, SCHEMAS / "core.schema.yaml"
        )

        lines = [
            f":Class: :class:`{name}`",
            f":Command line: ``tmtrun {alias} <input.fits | association.json> [--<parameter>=<value> ...]``",
            f":Python: ``{cls.__name__}.call(input, <parameter>=<value>, ...)``",
            f":Output suffix: ``_{default_suffix(cls)}``",
        ]
        if not is_pipeline:
            keyword = status_keyword(cls)
            lines.append(
                f":Status keyword: ``{keyword}`` (``meta.cal_step.{cls.class_alias}``)"
                if keyword
                else ":Status keyword: none"
            )
        lines += ["", f".. autoclass:: {name}", "   :no-members:", "   :show-inheritance:", ""]

        if is_pipeline:
            lines += section("Steps")
            lines += [f"{number}. :doc:`{step} <{step_page(step)}>`" for number, step in enumerate(cls.step_defs, 1)]
            lines += [
                "",
                "Each step takes its parameters as ``--steps.<step>.<parameter>=<value>`` (command line),",
                "``steps={'<step>': {'<parameter>': value}}`` (Python), a ``[[<step>]]`` section of a ``.cfg`` or",
                "an entry of ``steps`` in an ``.asdf``.",
                "",
            ]

        lines += section("Parameters")
        lines += parameter_table(own_spec(cls))
        lines += [
            "Besides these, every step has the :ref:`parameters common to all steps <common-step-parameters>`.",
            "",
        ]

        if not is_pipeline:
            lines += section("Reference files")
            lines += self.reference_lines(cls)

        lines += section("Shipped parameter files")
        lines += [f"``{Path(cfg_path).relative_to(PACKAGE_DIRECTORY.parent)}``:", "", ".. code-block:: ini", ""]
        lines += [f"   {line}" for line in cfg_text.splitlines()] + [""]
        lines += [
            f"``{Path(asdf_path).relative_to(PACKAGE_DIRECTORY.parent)}``, the same parameters in ASDF (written from the",
            "``.cfg``, the source of truth: :ref:`parameter-files`), its tree without ASDF's bookkeeping:",
            "",
            ".. code-block:: yaml",
            "",
        ]
        lines += [f"   {line}" for line in asdf_text.splitlines()] + [""]
        return lines

    @staticmethod
    def reference_lines(cls):
        reftypes = reference_types(cls)
        if not reftypes:
            return ["None: the step uses only the frame's own metadata.", ""]
        lines = []
        model = getattr(cls, "reference_model_class", None)
        if model is not None:
            lines += [f"Read as :class:`~{model.__module__}.{model.__name__}`.", ""]
        lines += crds_rules_table(reftypes)
        lines += ["CRDS chooses the reference (:doc:`/calibration`); ``override_<reftype>`` replaces its choice.", ""]
        return lines


class CrdsRules(GeneratedRst):
    """``.. crds-rules::``: every reference type of the ``ligeriri`` observatory and how CRDS selects it."""

    def rst_lines(self):
        self.depend_on(CRDS_SPECS)
        return crds_rules_table()


class DqFlags(GeneratedRst):
    """``.. dq-flags::``: the DQ bits of ``liger_iris_pipeline.dqflags.pixel``."""

    def rst_lines(self):
        from liger_iris_pipeline import dqflags

        self.depend_on(dqflags.__file__)
        rows = [
            (literal(name), str(value), f"2**{value.bit_length() - 1}" if value else "0")
            for name, value in dqflags.pixel.items()
        ]
        return list_table(("Name", "Value", "Bit"), rows)


class ImagerTable(GeneratedRst):
    """``.. imager-table::``: the nominal imagers of ``liger_iris_pipeline.instruments.IMAGERS``."""

    def rst_lines(self):
        from liger_iris_pipeline import instruments

        self.depend_on(instruments.__file__)
        rows = [
            (
                imager.instrument,
                imager.telescope,
                literal(imager.detector),
                f"{imager.size} x {imager.size}",
                f"{imager.pixel_scale}",
            )
            for imager in instruments.IMAGERS.values()
        ]
        return list_table(("Instrument", "Telescope", "Detector", "Pixels", "Plate scale [arcsec/pixel]"), rows)


# --- Module pages --------------------------------------------------------------------------------------------


def module_groups():
    """{page name: [module names]}: the top package, then each of its direct subpackages or modules with theirs."""
    package = importlib.import_module(PACKAGE)
    groups = {PACKAGE: [PACKAGE]}
    for info in pkgutil.iter_modules(package.__path__):
        name = f"{PACKAGE}.{info.name}"
        groups[name] = [name]
        if info.ispkg:
            subpackage = importlib.import_module(name)
            groups[name] += [module.name for module in pkgutil.walk_packages(subpackage.__path__, f"{name}.")]
    return groups


class ModuleReference(GeneratedRst):
    """``.. module-reference:: <group>``: autodoc of a module group; step classes are left to their step pages."""

    required_arguments = 1

    def rst_lines(self):
        steps = {cls for _, cls, _ in registered_steps()}
        lines = []
        for module_name in module_groups()[self.arguments[0]]:
            module = importlib.import_module(module_name)
            excluded = sorted(name for name, value in vars(module).items() if any(value is cls for cls in steps))
            lines += section(f"``{module_name}``")
            lines += [f".. automodule:: {module_name}"]
            if not hasattr(module, "__path__"):  # a package's members are documented in its own modules
                lines.append("   :members:")
                if excluded:
                    lines.append(f"   :exclude-members: {', '.join(excluded)}")
            lines.append("")
            documented_steps = [cls for cls in steps if cls.__module__ == module_name]
            if documented_steps:
                links = ", ".join(
                    f":class:`~{public_name(cls)}`" for cls in sorted(documented_steps, key=lambda c: c.__name__)
                )
                lines += [f"Step classes of this module: {links} (see their pages).", ""]
        return lines


class ModuleIndex(GeneratedRst):
    """``.. module-index::``: the toctree of the module pages."""

    def rst_lines(self):
        lines = [".. toctree::", "   :maxdepth: 1", ""]
        return lines + [f"   /{GENERATED.as_posix()}/modules/{name}" for name in module_groups()]


# --- Stub pages ---------------------------------------------------------------------------------------------


def write_if_changed(path, text):
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_stub_pages(app):
    """Write a page per step and per module group under api/generated/, removing pages of things now gone."""
    root = Path(app.srcdir) / GENERATED
    pages = {}
    for alias, cls, _ in registered_steps():
        title = f"{alias}: {cls.__name__}"
        pages[Path("steps") / f"{alias}.rst"] = f"{title}\n{'=' * len(title)}\n\n.. step-reference:: {alias}\n"
    for name in module_groups():
        title = f"``{name}``"
        pages[Path("modules") / f"{name}.rst"] = f"{title}\n{'=' * len(title)}\n\n.. module-reference:: {name}\n"
    for relative, text in pages.items():
        write_if_changed(root / relative, text)
    for stale in root.glob("*/*.rst"):
        if stale.relative_to(root) not in pages:
            stale.unlink()


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("builder-inited", write_stub_pages)
    for name, directive in {
        "step-summary": StepSummary,
        "step-common-parameters": StepCommonParameters,
        "step-reference": StepReference,
        "crds-rules": CrdsRules,
        "dq-flags": DqFlags,
        "imager-table": ImagerTable,
        "module-reference": ModuleReference,
        "module-index": ModuleIndex,
    }.items():
        app.add_directive(name, directive)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
