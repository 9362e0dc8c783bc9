"""A night's life in the workflow: the operations a user meets, one after the other on one small night, each
followed by the exact set of jobs that ran (from the run's own record of its jobs) and proof that every product
no job of that run wrote kept its bytes and modification time.

The night: an IRIS observation with a GUIDE subarray merged into its full frame and its exposures combined into a
Level-3 mosaic, and a Liger observation whose frame has a sky exposure subtracted (an association), plus Liger darks
and flats made into a master dark and flat (calibrations) before the science. Snakemake imports the package from a copy of its own, so that editing
package code (as a developer would) touches neither the repository nor other tests.
"""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from commands import clean_environment, command
from frames import make_reference
from test_workflow import jobs_in
from workflow_copy import REPOSITORY, copy_workflow, read_config, write_config
from liger_iris_pipeline import datamodels
from liger_iris_pipeline.associations import write_associations
from liger_iris_pipeline.reference_store import add_references, store_context
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SIZE = 64
CHAIN = ("dq_init", "dark_current", "flat_field", "assign_wcs")
#: The job that writes each kind of product, by the end of its file name.
WRITERS = (
    (re.compile(r"(.+)_(cal|merged|i2d)_(quicklook\.png|qa\.ecsv|stars\.ecsv|stars\.reg)$"), "quicklook", "{0}/{1}"),
    (re.compile(r"(.+)/.+_(crf\.fits|i2d\.fits|cat\.ecsv|cat\.reg)$"), "image3_{0}", ""),
    (re.compile(r"(.+)_cal\.fits$"), "assign_wcs", "{0}"),
    (re.compile(r"(.+)_merged\.fits$"), "merge_subarrays", "{0}"),
    (re.compile(r"(.+)_dqinit\.fits$"), "dq_init", "{0}"),
    (re.compile(r"(.+)_dark\.fits$"), "dark_current", "{0}"),
    (re.compile(r"(.+)_flat\.fits$"), "flat_field", "{0}"),
    (re.compile(r"(.+)_bkgsub\.fits$"), "background", "{0}"),
)
GATHERING = {("night_summary", ""), ("benchmark_table", ""), ("all", "")}


class Night:
    """The night's directory, its frames' names and the runs made in it."""

    def __init__(self, root):
        self.root = root
        self.package = root / "package"  # the code Snakemake and its jobs import
        shutil.copytree(REPOSITORY / "liger_iris_pipeline", self.package / "liger_iris_pipeline")
        raw = root / "raw"
        self.iris = simulate_observation(
            raw / "iris", instrument="IRIS", size=SIZE, n_exposures=2, seed=1, subarrays=[("GUIDE", 17, 17, 16, 16)]
        )
        self.liger = simulate_observation(
            raw / "liger", instrument="LIGER", size=SIZE, seed=2, observation="002", pointing=(210.8, 54.35),
            n_sky=1, sky_stars=0, n_darks=3, n_flats=3,
        )
        write_associations([*self.liger.raw, *self.liger.sky], raw / "liger")
        # The second IRIS exposure arrives later in the night.
        self.later = root / "later"
        self.later.mkdir()
        for path in (raw / "iris").glob("*_LVL1_0002*"):
            path.rename(self.later / path.name)
        add_references(
            root / "store", [self.iris.mask, self.iris.dark, self.iris.flat, self.liger.mask, self.liger.dark, self.liger.flat]
        )
        copy_workflow(
            root,
            [
                {
                    "name": "iris_field",
                    "instrument": "IRIS",
                    "raw": ["raw/iris/*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"],
                    "subarrays": ["raw/iris/*_GUIDE_LVL1_[0-9][0-9][0-9][0-9].fits"],
                    "merge_subarrays": True,
                    "mosaic": True,
                },
                {
                    "name": "liger_field",
                    "instrument": "LIGER",
                    "raw": ["raw/liger/*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"],
                    "associations": ["raw/liger/*_asn.json"],
                },
            ],
            calibrations=[
                {"name": "liger_darks", "type": "dark", "instrument": "LIGER", "raw": ["raw/liger/*_DARK_LVL1_*.fits"]},
                {
                    "name": "liger_flats",
                    "type": "flat",
                    "instrument": "LIGER",
                    "dark": "liger_darks",
                    "raw": ["raw/liger/*_FLAT_LVL1_*.fits"],
                },
            ],
        )

    def snakemake(self, *args, check=True):
        result = subprocess.run(
            [command("snakemake"), "--cores", "2", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=clean_environment(PYTHONPATH=self.package),
        )
        if check:
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    def run(self):
        """Run the workflow; the jobs that ran, from the run's own record of its jobs."""
        return jobs_in(self.snakemake().stderr, every_wildcard=True)

    def dry_run(self):
        """(listed jobs, [certain, depending] when the selection must run first, else None)."""
        output = self.snakemake("--dry-run").stdout
        counts = re.search(r"(\d+) will run for certain and (\d+) only if their references change", output)
        return jobs_in(output, every_wildcard=True), [int(count) for count in counts.groups()] if counts else None

    def edit_config(self, change):
        config = read_config(self.root)
        change(config)
        write_config(self.root, config)

    def products(self):
        """{path relative to results/: (mtime, sha1)} of every product of the frames and calibrations."""
        results = self.root / "results"
        return {
            str(path.relative_to(results)): (path.stat().st_mtime_ns, hashlib.sha1(path.read_bytes()).hexdigest())
            for path in results.rglob("*")
            if path.is_file() and path.parent != results and path.parts[len(results.parts)] not in ("crds", "logs", "benchmarks")
        }

    def header(self, product, keyword):
        with datamodels.open(self.root / "results" / product) as model:
            return {"R_FLAT": model.meta.ref_file.flat.name, "CRDS_CTX": model.meta.ref_file.crds.context_used}[keyword]


def writer_of(product):
    """The (rule, wildcards) of the job that writes ``product`` (a path relative to results/)."""
    if product.startswith("calibrations/"):
        _, reftype, name, reference = product.split("/")
        return f"master_{reftype}", f"{name}/{reference}"
    for pattern, rule, target in WRITERS:
        match = pattern.match(product)
        if match:
            return rule.format(*match.groups()), target.format(*match.groups())
    raise AssertionError(f"no job writes {product}")


def assert_only_their_products_changed(before, after, jobs, left=()):
    """The products of the jobs that ran were written again (or made); every other product, and those ``left``
    (no longer any job's), kept its bytes and modification time."""
    for product, stamp in after.items():
        if writer_of(product) in jobs and product not in left:
            assert before.get(product) != stamp, f"{product} was not written again by {writer_of(product)}"
        else:
            assert before.get(product) == stamp, f"{product} changed, but its job {writer_of(product)} did not run"


def chain(observation, exposures, steps=CHAIN):
    return {(step, f"{observation}/{exposure}") for step in steps for exposure in exposures}


def looks(observation, exposures, product="cal"):
    return {("quicklook", f"{observation}/{exposure}/{product}") for exposure in exposures}


def merged(observation, exposures):
    return {("merge_subarrays", f"{observation}/{exposure}") for exposure in exposures} | looks(
        observation, exposures, "merged"
    )


#: The IRIS observation's mosaic: its job (the frames' _crf, the _i2d, catalogue and regions) and quick-look (PNG, QA
#: row, stars and their regions).
MOSAIC = {("image3_iris_field", ""), ("quicklook", "iris_field/iris_field/i2d")}


def names(paths):
    return [Path(path).name.removesuffix(".fits") for path in paths]


def new_flat(night, instrument, useafter):
    """A flat 1 % above the simulated one, newer (USEAFTER), added to the store: the store's new context."""
    simulated = night.iris if instrument == "IRIS" else night.liger
    with datamodels.open(simulated.flat) as flat:
        data = flat.data * 1.01
    model = make_reference(datamodels.FlatModel, "FLAT", instrument=instrument, data=data.astype(np.float32))
    model.meta.instrument.filter = "Ks"
    model.meta.useafter = useafter
    stamp = useafter.replace("-", "").replace(":", "")
    path = night.root / f"{instrument}_{'IMG1' if instrument == 'IRIS' else 'IMG'}_FLAT_{stamp}_1.fits"
    model.save(path)
    return add_references(night.root / "store", [path]), path.name


def step(night, expected, certain=None, left=()):
    """Run the workflow: exactly the jobs ``expected`` run, and only their products change (and not those ``left``).
    The dry run before lists them; when the selection must run first it counts ``certain`` of them as certain
    (default: all but the selection) and the rest as an upper bound, otherwise it lists exactly them."""
    before = night.products()
    listed, counts = night.dry_run()
    if ("crds_select", "") in expected:
        certain = len(expected) - 1 if certain is None else certain
        assert counts == [certain, len(listed) - 1 - certain], (counts, sorted(listed))
        assert {job for job in expected if job[0] != "crds_reference"} <= listed
    else:
        assert counts is None and listed == expected, sorted(listed ^ expected)
    jobs = night.run()
    assert jobs == expected, f"ran {sorted(jobs - expected)}, expected but not run {sorted(expected - jobs)}"
    assert_only_their_products_changed(before, night.products(), jobs, left)


def test_a_nights_life(tmp_path):
    night = Night(tmp_path)
    iris = names(night.iris.raw[:1])
    guide = names(night.iris.subarrays[0][:1])
    liger = names(night.liger.raw)
    later_iris = names(night.iris.raw[1:])
    later_guide = names(night.iris.subarrays[1][:1])

    # 1. First run: the calibration products, the selection, the fetches, every frame's chain, merge, looks.
    jobs = night.run()
    made = {("master_dark", ""), ("master_flat", ""), ("crds_add_calibrations", ""), ("crds_select", "")}
    fetched = {job for job in jobs if job[0] == "crds_reference"}
    assert len(fetched) == 6  # mask, dark, flat of IRIS; mask of Liger and its master dark and flat
    expected = {job for job in made if job[0].startswith("crds")} | fetched | GATHERING
    expected |= {job for job in jobs if job[0] in ("master_dark", "master_flat")}
    expected |= chain("iris_field", iris + guide) | chain("liger_field", liger) | {("background", f"liger_field/{liger[0]}")}
    expected |= looks("iris_field", iris + guide) | looks("liger_field", liger) | merged("iris_field", iris) | MOSAIC
    assert jobs == expected, sorted(jobs ^ expected)
    assert (night.root / "results" / "iris_field" / "iris_field_i2d.fits").is_file()
    first_context = store_context(night.root / "store")
    assert first_context == "ligeriri_0002.pmap"  # the calibration products' context
    assert night.header(f"liger_field/{liger[0]}_cal.fits", "CRDS_CTX") == first_context

    # 2. Nothing to do: the dry run lists nothing, and a run runs nothing.
    step(night, set())

    # 3. Exposures appended to an observation: the new frame and its subarray, merged, and the observation's mosaic;
    # nothing else.
    for path in night.later.iterdir():
        shutil.copy2(path, night.root / "raw" / "iris" / path.name)
    iris_frames, iris_exposures = iris + guide + later_iris + later_guide, iris + later_iris
    expected = chain("iris_field", later_iris + later_guide) | merged("iris_field", later_iris)
    step(night, {("crds_select", "")} | expected | looks("iris_field", later_iris + later_guide) | MOSAIC | GATHERING)

    # 4. A new observation: its frame only.
    deep = names(
        simulate_observation(
            night.root / "raw" / "deep", instrument="LIGER", size=SIZE, seed=4, observation="003", pointing=(210.9, 54.3)
        ).raw
    )
    night.edit_config(
        lambda config: config["observations"].append(
            {"name": "liger_deep", "instrument": "LIGER", "raw": ["raw/deep/*_SCI_LVL1_[0-9][0-9][0-9][0-9].fits"]}
        )
    )
    step(night, {("crds_select", "")} | chain("liger_deep", deep) | looks("liger_deep", deep) | GATHERING)
    all_frames = {"iris_field": iris_frames, "liger_field": liger, "liger_deep": deep}

    # 5. A new context in the store (a new IRIS flat), with calibrations configured and temporary intermediates:
    # every IRIS frame again from its raw frame (its intermediates are gone), the Liger frames untouched.
    iris_context, iris_flat = new_flat(night, "IRIS", "2026-01-01T00:00:00")
    iris_looks = looks("iris_field", iris_frames) | merged("iris_field", iris_exposures) | MOSAIC
    expected = {("crds_select", ""), ("crds_reference", iris_flat)} | chain("iris_field", iris_frames) | iris_looks
    step(night, expected | GATHERING, certain=0)
    assert night.header(f"iris_field/{iris[0]}_cal.fits", "R_FLAT") == iris_flat
    assert night.header(f"iris_field/{iris[0]}_cal.fits", "CRDS_CTX") == iris_context
    assert night.header(f"liger_field/{liger[0]}_cal.fits", "CRDS_CTX") == first_context

    # 6. A fixed context with calibrations: refused before any job, in one line.
    night.edit_config(lambda config: config["crds"].update(context=first_context))
    result = night.snakemake("--dry-run", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: config: crds/context is {first_context} but calibrations are configured"
    )
    night.edit_config(lambda config: config["crds"].update(context=None))

    # 7. The calibrations removed from the config (their products stay in the store): the selection runs again,
    # finds the same references, and nothing else runs (but the target rule, which runs after any job).
    night.edit_config(lambda config: config.pop("calibrations"))
    step(night, {("crds_select", ""), ("all", "")}, certain=0)

    # 8. Intermediate products kept from now on: nothing to do (no product needs them yet).
    night.edit_config(lambda config: config.update(keep_intermediate=True))
    step(night, set())

    # 9. A new context without calibrations: the IRIS frames again, their intermediates now kept; 10. another one:
    # the IRIS frames from flat_field on.
    second_context, second_flat = new_flat(night, "IRIS", "2026-06-01T00:00:00")
    expected = {("crds_select", ""), ("crds_reference", second_flat)} | chain("iris_field", iris_frames) | iris_looks
    step(night, expected | GATHERING, certain=0)
    third_context, third_flat = new_flat(night, "IRIS", "2026-09-01T00:00:00")
    from_flat_iris = chain("iris_field", iris_frames, ("flat_field", "assign_wcs")) | iris_looks | GATHERING
    step(night, {("crds_select", ""), ("crds_reference", third_flat)} | from_flat_iris, certain=0)
    assert night.header(f"iris_field/{iris[0]}_cal.fits", "R_FLAT") == third_flat

    # 11. A fixed (older) context: the IRIS frames go back to its flat, which is still in the cache.
    night.edit_config(lambda config: config["crds"].update(context=iris_context))
    step(night, {("crds_select", "")} | from_flat_iris, certain=0)
    assert night.header(f"iris_field/{iris[0]}_cal.fits", "R_FLAT") == iris_flat
    assert night.header(f"iris_field/{iris[0]}_cal.fits", "CRDS_CTX") == iris_context

    # 12. A step's .cfg edited: that step and what follows on every frame (the Liger frames from their raw frames:
    # their intermediates were not kept); 13. the step's own module edited: the same, from flat_field everywhere.
    liger_looks = looks("liger_field", liger) | looks("liger_deep", deep)
    liger_chains = chain("liger_field", liger) | chain("liger_deep", deep) | {("background", f"liger_field/{liger[0]}")}
    cfg = night.root / "config" / "steps" / "flat_field.cfg"
    cfg.write_text(cfg.read_text() + "# edited\n")
    step(night, from_flat_iris | liger_chains | liger_looks)
    module = night.package / "liger_iris_pipeline" / "flat_field" / "flat_field.py"
    module.write_text(module.read_text() + "# edited\n")
    liger_from_flat = chain("liger_field", liger, ("flat_field", "assign_wcs")) | chain("liger_deep", deep, ("flat_field", "assign_wcs"))
    step(night, from_flat_iris | liger_from_flat | liger_looks)

    # 14. A parameter of one observation's step, and 15. a package module that step imports through others (the
    # stacking code of the sky subtraction): that observation's sky-subtracted frame only.
    sky_frame = {("background", f"liger_field/{liger[0]}")} | chain("liger_field", liger) | looks("liger_field", liger)
    night.edit_config(lambda config: config["observations"][1].update(steps={"background": {"sigma": 4.0}}))
    step(night, sky_frame | GATHERING)
    module = night.package / "liger_iris_pipeline" / "stack.py"
    module.write_text(module.read_text() + "# edited\n")
    step(night, sky_frame | GATHERING)

    # 16. A raw frame replaced with new content: that frame, its merge and looks, its observation's mosaic.
    with fits.open(night.root / "raw" / "iris" / f"{later_iris[0]}.fits", mode="update") as raw:
        raw["SCI"].data[0, 0] += 1.0
    expected = {("crds_select", "")} | chain("iris_field", later_iris) | merged("iris_field", later_iris)
    step(night, expected | looks("iris_field", later_iris) | MOSAIC | GATHERING)

    # 17. A frame removed from the config: the selection, the night's summary and the observation's mosaic (its
    # frames changed), nothing else; the removed frame's _crf is left as it was.
    night.edit_config(
        lambda config: config["observations"][0].update(
            raw=[f"raw/iris/{iris[0]}.fits"], subarrays=[f"raw/iris/{guide[0]}.fits"]
        )
    )
    # (The dry run cannot count the summary as certain: Snakemake compares a set of inputs only once the selection,
    # which the summary waits for, has run.)
    step(
        night,
        {("crds_select", ""), ("night_summary", ""), ("benchmark_table", ""), ("all", "")} | MOSAIC,
        certain=0,
        left={f"iris_field/{later_iris[0]}_crf.fits"},
    )
