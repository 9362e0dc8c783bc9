"""Which CRDS context selects the night's references, and when the selection must run again.

The selection (the ``crds_select`` checkpoint) runs under the configured ``crds.context``, or else under
the store's operational context at the time it runs: with ``calibrations``, that is the context the
calibration products were just added as, or any later one. Snakemake cannot see a store's context change
(no file of the workflow changes), and a parameter evaluated before the calibrations are added would be
stale: so when the workflow is planned, the context the selection should use is compared with the one the
current selection table records, and if they differ a marker file, an input of the selection, is
rewritten, which reruns it. The frames whose references did not change are not touched afterwards.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from ..atomic import write_text
from .config import ConfigFileError


def check_context_settings(config):
    """Refuse a configured context together with calibrations: the calibration products are added to the store
    as a new context, which a fixed context would never use."""
    if config["crds"].get("context") and config.get("calibrations"):
        raise ConfigFileError(
            f"config: crds/context is {config['crds']['context']} but calibrations are configured: their products "
            f"enter the store as a new context, which the frames are then reduced with; set crds/context to null "
            f"(or remove calibrations to reduce with {config['crds']['context']})"
        )


def recorded_context(table):
    """The context the selection table at ``table`` was made with, or None when there is none."""
    try:
        return json.loads(Path(table).read_text())["context"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_context(marker, table, context):
    """Rewrite ``marker`` (an input of the selection) when the selection table at ``table`` was made under another
    context than ``context`` or is missing, so that the selection runs; otherwise leave it untouched. The marker
    says when and why it was written: Snakemake compares a small input's checksum, so each writing must differ."""
    recorded = recorded_context(table)
    if recorded != context or not Path(marker).exists():
        Path(marker).parent.mkdir(parents=True, exist_ok=True)
        note = {"context": context, "table": recorded, "written": datetime.now(UTC).isoformat()}
        write_text(marker, json.dumps(note) + "\n")
