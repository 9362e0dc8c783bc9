"""jwst's Level-3 outlier detection and resampling (calwebb_image3's two drizzling steps) on our L2b frames.

Runs in the jwst environment (``make benchmark`` makes it from benchmarks/jwst-constraints.txt); it needs only
numpy, astropy, asdf, gwcs and jwst, not liger_iris_pipeline. No CRDS server (these steps use no references).

    python jwst_image3.py prepare WORKDIR CAL.fits [CAL.fits ...]   # jwst ImageModels and an image3 association
    python jwst_image3.py run WORKDIR [--grid I2D.fits] [--on-disk]  # OutlierDetectionStep then ResampleStep

``prepare`` turns each of our ``_cal`` frames into a NIRCam-imaging ImageModel (jwst knows no Liger or IRIS):
the same SCI, ERR, DQ (our DQ bits are jwst's) and variance arrays, a gWCS rebuilt from the SCI header's FITS
WCS keywords (the same transform chain as our AssignWcsStep's), and the metadata jwst's drizzling reads:
exposure times, the pixel area, BUNIT (``DN/s``: jwst takes the unit as it is, so its mosaic is in DN/s too;
for imaging it never rescales data by the unit), ``wcsinfo`` with S_REGION and the reference angles its default
output grid needs, and the observation numbers its ModelLibrary groups exposures by.

``run`` loads the association as calwebb_image3 does (``in_memory=True``, jwst's default: every frame is held in
memory; ``--on-disk`` is its memory-saving mode) and times OutlierDetectionStep and ResampleStep with their
defaults, which are ours: square kernel, pixfrac 1, inverse read-noise variance weights (``ivm``). With
``--grid``, ResampleStep drizzles onto the grid of that FITS image's SCI header (our mosaic's, for a
pixel-to-pixel comparison); without it, onto jwst's own union grid at the frames' scale, north up. It writes
``jwst_i2d.fits`` in WORKDIR and prints one JSON line of timings and peak memory.
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

from bench_imager_l2 import peak_rss_mib  # standard library only, like this script
from jwst_steps import crds_offline, describe

ASN_NAME = "image3_asn.json"
PRODUCT = "jwst_image3"
I2D = "jwst_i2d.fits"
#: Drizzle parameters of both steps, set explicitly although they are jwst's defaults (and ours).
DRIZZLE = {"pixfrac": 1.0, "kernel": "square", "weight_type": "ivm"}
ARRAYS = ("ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")


def header_gwcs(header, shape):
    """A gWCS from 0-based detector pixels to ICRS, from the TAN keywords (CRPIX, CRVAL, CDELT, PC) of a FITS
    header: shift by -(CRPIX - 1) | CD matrix | Pix2Sky_TAN | RotateNative2Celestial, bounded by the array."""
    import numpy as np
    from astropy import coordinates
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs

    if (header["CTYPE1"], header["CTYPE2"]) != ("RA---TAN", "DEC--TAN"):
        raise ValueError(f"not a TAN image WCS: {header['CTYPE1']}, {header['CTYPE2']}")
    pc = np.array([[header.get(f"PC{i}_{j}", float(i == j)) for j in (1, 2)] for i in (1, 2)])
    cd = np.array([[header["CDELT1"]], [header["CDELT2"]]]) * pc
    transform = (
        (models.Shift(-(header["CRPIX1"] - 1)) & models.Shift(-(header["CRPIX2"] - 1)))
        | models.AffineTransformation2D(matrix=cd)
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(header["CRVAL1"], header["CRVAL2"], 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_names=("x", "y"), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    result = wcs.WCS([(detector, transform), (sky, None)])
    ny, nx = shape
    result.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    result.array_shape = shape
    return result


def wcsinfo(header, frame_wcs, shape):
    """``meta.wcsinfo``: the FITS keywords, S_REGION, and the reference point and angles jwst's default output
    grid is built from (V2/V3 zero, V3 Y angle zero, parity -1, so ROLL_REF is the position angle of +Y)."""
    ny, nx = shape
    corners = frame_wcs(*zip((-0.5, -0.5), (nx - 0.5, -0.5), (nx - 0.5, ny - 0.5), (-0.5, ny - 0.5)))
    info = {key.lower(): header[key] for key in (
        "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2",
        "PC1_1", "PC1_2", "PC2_1", "PC2_2", "RADESYS",
    )}
    info.update(
        wcsaxes=2,
        ra_ref=header["CRVAL1"],
        dec_ref=header["CRVAL2"],
        v2_ref=0.0,
        v3_ref=0.0,
        v3yangle=0.0,
        vparity=-1,
        # Our PC is the rotation by PA, the position angle of +Y east of north (CDELT1 < 0, CROTA2 = -PA).
        roll_ref=math.degrees(math.atan2(-header["PC1_2"], header["PC2_2"])),
        s_region="POLYGON ICRS " + " ".join(f"{ra:.9f} {dec:.9f}" for ra, dec in zip(*corners)),
    )
    return info


def jwst_image(cal_path):
    """Our calibrated frame ``cal_path`` as a jwst ImageModel (see the module's docstring)."""
    import numpy as np
    from astropy.io import fits
    from stdatamodels.jwst import datamodels

    with fits.open(cal_path) as frame:
        primary, science = frame[0].header, frame["SCI"].header
        arrays = {name: np.asarray(frame[name].data, dtype="u4" if name == "DQ" else "f4") for name in ("SCI", *ARRAYS)}
    shape = arrays["SCI"].shape
    model = describe(
        datamodels.ImageModel(data=arrays.pop("SCI"), **{name.lower(): array for name, array in arrays.items()}),
        shape,
    )
    model.meta.filename = Path(cal_path).name
    model.meta.observation.date, model.meta.observation.time = primary["DATE-OBS"], primary["TIME-OBS"]
    # ModelLibrary groups exposures by these numbers (one group per exposure here).
    observation = model.meta.observation
    observation.program_number, observation.observation_number = "00001", str(primary["OBSERVTN"]).zfill(3)
    observation.visit_number, observation.visit_group, observation.sequence_id = "001", "01", "1"
    observation.activity_id, observation.exposure_number = "01", str(primary["EXPOSURE"])
    exposure, seconds = model.meta.exposure, float(primary["EXPTIME"])
    exposure.exposure_time = exposure.effective_exposure_time = exposure.measurement_time = seconds
    exposure.duration = exposure.elapsed_exposure_time = seconds
    exposure.start_time = float(primary["EXPSTART"])
    exposure.end_time = exposure.start_time + seconds / 86400.0
    exposure.mid_time = (exposure.start_time + exposure.end_time) / 2
    exposure.nints, exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.readpatt = 1, 1, 1, 0, "RAPID"
    model.meta.bunit_data = model.meta.bunit_err = science["BUNIT"]
    scale_deg = math.sqrt(abs(science["CDELT1"] * science["CDELT2"]))
    model.meta.photometry.pixelarea_steradians = math.radians(scale_deg) ** 2
    model.meta.photometry.pixelarea_arcsecsq = (scale_deg * 3600.0) ** 2
    model.meta.background.level, model.meta.background.subtracted = None, False
    model.meta.wcs = header_gwcs(science, shape)
    model.meta.wcsinfo.instance.update(wcsinfo(science, model.meta.wcs, shape))
    model.meta.pointing.ra_v1, model.meta.pointing.dec_v1 = science["CRVAL1"], science["CRVAL2"]
    model.meta.pointing.pa_v3 = model.meta.wcsinfo.roll_ref
    return model


def prepare(workdir, cal_paths):
    """Write each frame as a jwst ImageModel into ``workdir`` and the image3 association naming them."""
    from jwst.associations import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = []
    for path in cal_paths:
        model = jwst_image(path)
        model.save(workdir / model.meta.filename)
        names.append(model.meta.filename)
    association = asn_from_list.asn_from_list(names, rule=DMS_Level3_Base, product_name=PRODUCT)
    association.data["asn_type"] = "image3"
    association.data["asn_pool"] = "benchmark"
    _, serialized = association.dump(format="json")
    (workdir / ASN_NAME).write_text(serialized)


def grid_wcs_file(grid_fits, workdir):
    """An ASDF file with the gWCS of ``grid_fits``'s SCI header over its array: ResampleStep's ``output_wcs``."""
    import asdf
    from astropy.io import fits

    header = fits.getheader(grid_fits, "SCI")
    path = Path(workdir) / "grid_wcs.asdf"
    asdf.AsdfFile({"wcs": header_gwcs(header, (header["NAXIS2"], header["NAXIS1"]))}).write_to(path)
    return path


def run(workdir, grid=None, on_disk=False):
    """OutlierDetectionStep then ResampleStep on the association in this process; print one JSON line."""
    crds_offline(workdir)
    started = time.perf_counter()
    import jwst
    import numpy as np
    from jwst.datamodels import ModelLibrary
    from jwst.outlier_detection import OutlierDetectionStep
    from jwst.resample import ResampleStep

    imported = time.perf_counter()
    workdir = Path(workdir)
    resample_grid = {"output_wcs": str(grid_wcs_file(grid, workdir))} if grid else {"rotation": 0.0}
    in_memory = not on_disk
    # As calwebb_image3 loads its input: the science members, in memory unless in_memory is off.
    library = ModelLibrary(str(workdir / ASN_NAME), asn_exptypes=["science"], on_disk=on_disk)
    with library:  # read every frame now, so that the steps' times do not include reading
        for index in range(len(library)):
            library.shelve(library.borrow(index), index, modify=False)
    read = time.perf_counter()
    library = OutlierDetectionStep.call(library, in_memory=in_memory, **DRIZZLE)
    flagged = time.perf_counter()
    peak_outlier = peak_rss_mib()
    mosaic = ResampleStep.call(library, in_memory=in_memory, **DRIZZLE, **resample_grid)
    resampled = time.perf_counter()
    mosaic.save(workdir / I2D)
    written = time.perf_counter()
    outliers = 0
    with library:
        for model in library:
            outliers += int(np.count_nonzero(model.dq & 16))  # OUTLIER
            library.shelve(model, modify=False)
    print(
        json.dumps(
            {
                "jwst": jwst.__version__,
                "in_memory": in_memory,
                "frames": len(library),
                "import_s": imported - started,
                "read_s": read - imported,
                "outlier_detection_s": flagged - read,
                "resample_s": resampled - flagged,
                "write_s": written - resampled,
                "total_s": written - started,
                "peak_rss_outlier_detection_mib": peak_outlier,
                "peak_rss_mib": peak_rss_mib(),
                "outlier_pixels": outliers,
                "i2d": str(workdir / I2D),
                "i2d_shape": list(mosaic.data.shape),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare", help="jwst ImageModels and an image3 association")
    prepare_parser.add_argument("workdir", type=Path)
    prepare_parser.add_argument("cal", nargs="+", type=Path, help="our L2b _cal frames")
    run_parser = commands.add_parser("run", help="time OutlierDetectionStep then ResampleStep")
    run_parser.add_argument("workdir", type=Path)
    run_parser.add_argument("--grid", type=Path, help="FITS image whose SCI WCS and shape are the output grid")
    run_parser.add_argument("--on-disk", action="store_true", help="jwst's in_memory=False (frames in files)")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.workdir, args.cal)
    else:
        run(args.workdir, args.grid, args.on_disk)


if __name__ == "__main__":
    os.environ.setdefault("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    main()
