"""crds's choice of references for a set of frames, made on a local cache alone.

crds runs serverless and offline, under a context given explicitly; the frames' selection parameters come
from their data models, and an association stands for its science members. crds is asked for the reference
types of the pipeline (the plug-in's); a context without rules of a type (an older one, or the community's, which
has no gain, readnoise, saturation or distortion rules) does not apply it: N/A, as the steps take it.
"""

import logging
import os
from contextlib import contextmanager

import liger_iris_crds_hook

liger_iris_crds_hook.install()  # crds must know the ligeriri observatory before it is imported

import crds  # noqa: E402
from crds.client import api as crds_api  # noqa: E402
from crds.core import config as crds_config  # noqa: E402
from crds.core import log as crds_log  # noqa: E402
from crds.core import utils as crds_utils  # noqa: E402

from .. import datamodels  # noqa: E402
from ..associations import AssociationError, is_association, load_association  # noqa: E402
from ..crds_ligeriri import FILEKINDS  # noqa: E402
from .errors import FetchError  # noqa: E402
from .layout import OBSERVATORY  # noqa: E402

#: crds's own default server address: its "serverless" spelling makes crds skip every JSON-RPC call.
SERVERLESS_URL = "https://crds-serverless-mode.stsci.edu"
#: The reference types the fetch asks crds for: the pipeline's.
REFTYPES = tuple(FILEKINDS)
#: How crds answers for a type the context has no rules of.
_UNKNOWN_TYPE = "Unknown reference type"


class _ErrorMessages(logging.Handler):
    """Collects what crds logs at ERROR level: crds reports many problems only there."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


def _replace_crds_environment(environment, server):
    """Make ``environment`` the only CRDS_* variables, point crds at ``server``, and clear crds's caches."""
    for key in [key for key in os.environ if key.startswith("CRDS_")]:
        del os.environ[key]
    os.environ.update(environment)
    crds_api.set_crds_server(server)
    crds_utils.clear_function_caches()
    crds_config.CRDS_REF_SUBDIR_MODE = "None"  # crds keeps a cache's layout per process: read the next one's


@contextmanager
def local_crds(crds_path, ignore_mapping_checksum=False):
    """crds set to use the cache at ``crds_path`` alone: local mode, read-only, serverless; restored after.
    ``ignore_mapping_checksum``: crds loads mappings whose embedded sha1sum is stale.

    crds reads its configuration from ``os.environ`` (where it also keeps its defaults) and caches results
    per process (``utils.cached``). So on the way in every CRDS_* variable is replaced by crds's defaults
    plus ours, crds's server address set to its serverless one, and its caches cleared; on the way out the
    previous variables and address come back and the caches are cleared again. This changes the process
    environment while it runs: not for concurrent use by threads. (A ``~/.crds.ini`` still applies.)
    """
    saved_environment = {key: value for key, value in os.environ.items() if key.startswith("CRDS_")}
    saved_server = crds_api.get_crds_server()
    _replace_crds_environment({}, SERVERLESS_URL)
    for item in vars(crds_config).values():  # crds writes each default into os.environ as it defines the setting
        if isinstance(item, crds_config.ConfigItem):
            item.get()
    os.environ.update(
        CRDS_PATH=str(crds_path), CRDS_MODE="local", CRDS_READONLY_CACHE="1", CRDS_OBSERVATORY=OBSERVATORY
    )
    if ignore_mapping_checksum:
        os.environ["CRDS_IGNORE_MAPPING_CHECKSUM"] = "1"
    try:
        yield
    finally:
        _replace_crds_environment(saved_environment, saved_server)


def best_references(parameters, context, source):
    """{reftype: reference name or "N/A"} that crds selects for ``parameters`` under ``context``, for each of the
    pipeline's reference types.

    Call inside ``local_crds``. "NOT FOUND n/a" (the type does not apply) and a type the context has no rules of
    become "N/A"; any other NOT FOUND, an exception, or an error crds only logged is a FetchError naming ``source``.
    """
    logged = _ErrorMessages()
    crds_logger = logging.getLogger("CRDS")
    errors_before = crds_log.errors()
    crds_logger.addHandler(logged)
    try:
        recommendations = crds.getrecommendations(
            parameters, reftypes=list(REFTYPES), context=context, observatory=OBSERVATORY
        )
    except (Exception, SystemExit) as error:  # crds raises many types, and exits on some failures
        raise FetchError(
            f"{source}: crds cannot select references under {context} ({error or type(error).__name__})"
        ) from error
    finally:
        crds_logger.removeHandler(logged)
    if crds_log.errors() > errors_before:
        reason = logged.messages[0] if logged.messages else "see its log above"
        raise FetchError(f"{source}: crds reported an error under {context}: {reason}")
    bestrefs = {}
    for reftype, value in sorted(recommendations.items()):
        if value.upper().startswith("NOT FOUND"):
            reason = value[len("NOT FOUND") :].strip()
            if reason.lower() != "n/a" and not reason.startswith(_UNKNOWN_TYPE):
                raise FetchError(f"{source}: no {reftype} reference under {context}: {reason}")
            value = "N/A"
        bestrefs[reftype] = value
    return bestrefs


def expand_inputs(inputs):
    """The frames of ``inputs``: each frame as given, and each science member of a JSON association."""
    frames = []
    for item in inputs:
        try:
            members = (
                [str(path) for product in load_association(item) for path in product.science]
                if is_association(item)
                else [str(item)]
            )
        except AssociationError as error:
            raise FetchError(str(error)) from error
        frames += [member for member in members if member not in frames]
    return frames


def crds_parameters(path):
    """The parameters crds selects references on, from the frame's data model."""
    try:
        with datamodels.open(path) as model:
            return model.get_crds_parameters()
    except datamodels.DataModelError as error:
        raise FetchError(str(error)) from error
