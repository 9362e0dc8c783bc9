"""Run crds in a child process against a given cache: crds caches its configuration per process."""

import json
import subprocess
import sys

from commands import clean_environment

SELECT = """
import json, sys
import liger_iris_crds_hook
liger_iris_crds_hook.install()
import crds
request = json.load(sys.stdin)
answers = [crds.getrecommendations(parameters, reftypes=request["reftypes"], context=request["context"],
                                   observatory="ligeriri") for parameters in request["parameters"]]
print(json.dumps(answers))
"""


def crds_environment(crds_path):
    """The environment of a compute job: the local cache only, read-only, no server."""
    return clean_environment(CRDS_PATH=crds_path, CRDS_MODE="local", CRDS_READONLY_CACHE=1)


def select(crds_path, parameters, reftypes, context=None):
    """crds's recommendations for each parameter dict, under ``context`` (default: the cache's)."""
    request = json.dumps({"parameters": parameters, "reftypes": reftypes, "context": context})
    result = subprocess.run(
        [sys.executable, "-c", SELECT], input=request, capture_output=True, text=True, env=crds_environment(crds_path)
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
