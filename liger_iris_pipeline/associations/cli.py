"""``liger-iris-asn``: write one association per science exposure, with its nearest background exposures, or
with ``--image3 PRODUCT`` one Level-3 association of all the given calibrated exposures (a dithered observation).

    liger-iris-asn [--output-dir DIR] [--n-background N] [--pool NAME] EXPOSURE.fits [...]
    liger-iris-asn --image3 PRODUCT [--output-dir DIR] [--pool NAME] EXPOSURE_cal.fits [...]

Prints the written association paths. Exit status 1 with one line ``liger-iris-asn: error: <file>: <problem>``.
"""

import argparse
import os
import sys

from .association import AssociationError
from .generate import write_associations


def main(argv=None):
    parser = argparse.ArgumentParser(prog="liger-iris-asn", description=__doc__.splitlines()[0])
    parser.add_argument("exposures", nargs="+", help="raw science (EXP_TYPE SCIENCE) and background (SKY) exposures")
    parser.add_argument("--output-dir", help="where to write (default: the exposures' common directory)")
    parser.add_argument("--n-background", type=int, default=1, help="background exposures per science exposure")
    parser.add_argument("--pool", default="", help="asn_pool of the associations")
    parser.add_argument(
        "--image3", metavar="PRODUCT", help="one Level-3 association named PRODUCT of all the exposures (tmtrun image3)"
    )
    args = parser.parse_args(argv)
    directory = args.output_dir or os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in args.exposures])
    try:
        for path in write_associations(args.exposures, directory, args.n_background, args.pool, args.image3):
            print(path)
    except (AssociationError, ValueError, OSError) as error:
        print(f"liger-iris-asn: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
