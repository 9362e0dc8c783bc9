"""``liger-iris-watch``: reduce a night's raw frames as they land (``run``, the default), or say how it goes
(``status``).

    liger-iris-watch [run] [--configfile config/config.yaml] [--workflow-dir .]
    liger-iris-watch status [--configfile config/config.yaml]

The config is the workflow's (the same file, checked the same way); run it where Snakemake runs. Each event is a
JSON line on stdout and in ``<output_dir>/watch/watch.jsonl``; the ledger is ``<output_dir>/watch/ledger.sqlite``.
A bad config or store: ``liger-iris-watch: error: <file>: <problem>`` and exit status 1.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

from ..workflow.config import ConfigFileError, check_config_file, config_with_defaults, validate_config
from .ledger import Ledger


def load_night(configfile, workflow_dir):
    """The Night of the workflow config at ``configfile``, checked against the workflow's schema."""
    from .service import Night  # noqa: PLC0415

    check_config_file(configfile)
    config = yaml.safe_load(Path(configfile).read_text())
    schema = Path(workflow_dir) / "config" / "config.schema.yaml"
    validate_config(config, schema, configfile)
    return Night(config_with_defaults(config, schema), workflow_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="liger-iris-watch", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("run", "status"), default="run")
    parser.add_argument("--configfile", default="config/config.yaml", help="the workflow's config (default %(default)s)")
    parser.add_argument("--workflow-dir", default=".", help="the workflow's directory (its config/steps/ and schema)")
    args = parser.parse_args(argv)
    try:
        night = load_night(args.configfile, args.workflow_dir)
        if args.command == "status":
            print(json.dumps(Ledger(night.output / "ledger.sqlite").status(), indent=2))
            return 0
        from .service import Watcher, json_reporter, stop_on_signals  # noqa: PLC0415

        watcher = Watcher(night, report=json_reporter(night.output / "watch.jsonl", sys.stdout))
        stop_on_signals(watcher)
        watcher.run()
    except (ConfigFileError, OSError) as error:
        print(f"liger-iris-watch: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
