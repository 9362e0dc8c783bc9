"""The workflow's own files, found from where Snakemake reads the workflow, not from the working directory.

Besides its rules, scripts and conda environments (which Snakemake resolves beside each rule file), the workflow
reads files of its own: the steps' default ``.cfg`` files (``config/steps/``, inputs of the step rules), the config
schema, the template config and the scripts whose code version it takes. Snakemake may read the workflow from:

- a directory: this checkout (``snakemake`` in it, or ``snakemake -s <checkout>/Snakefile`` elsewhere), or a
  module given by path (``module drs: snakefile: "<checkout>/Snakefile"``). Each file is used where it lies;
- a git host, a module ``snakefile: github("<owner>/<repo>", path="Snakefile", tag="v0.1.0")`` as
  ``snakedeploy deploy-workflow`` writes it. Snakemake keeps the repository in its source cache, outside the
  working directory and, for a branch, under a new temporary path in every run. Each file is copied to
  ``.snakemake/liger_iris/workflow/<path>`` in the working directory, written only when its content changed:
  a path that stays the same from run to run (no spurious rerun) and that cluster jobs see.

The user's copies come first: ``snakedeploy`` copies the workflow's ``config/`` (template config and steps'
``.cfg``) into the user's directory to be edited, so ``config/config.yaml`` and ``config/steps/<step>.cfg`` of
the working directory, where they exist, are the defaults (in this checkout they are the workflow's own, under
the paths they have always had: a changed path of a rule input would rerun its jobs).
"""

import os
from functools import cache
from pathlib import Path

from ..atomic import replacing

#: Where the files of a workflow read from a git host are copied, in the working directory.
COPIES = ".snakemake/liger_iris/workflow"


class WorkflowFiles:
    """The files of the workflow whose top directory (the Snakefile's) Snakemake reads as ``root``, a
    ``snakemake.sourcecache.SourceFile`` (``workflow.current_basedir`` while the Snakefile is read)."""

    def __init__(self, root, sourcecache, copies=COPIES):
        from snakemake.sourcecache import LocalSourceFile

        self.root = root
        self.sourcecache = sourcecache
        self.copies = Path(copies).absolute()
        self.directory = root.get_path_or_uri(secret_free=False) if isinstance(root, LocalSourceFile) else None

    @cache
    def path(self, relative):
        """The local path of the workflow's file ``relative`` (to its top directory): the file itself in a
        directory, else its copy in the working directory."""
        if self.directory is not None:
            return str(Path(self.directory) / relative)
        content = self._read(self.root.join(relative))
        copy = self.copies / relative
        if not copy.is_file() or copy.read_bytes() != content:
            copy.parent.mkdir(parents=True, exist_ok=True)
            with replacing(copy) as temporary:
                temporary.write_bytes(content)
        return str(copy)

    def _read(self, source):
        """The bytes of the workflow's file ``source`` (a SourceFile). From a git repository (a git host's, which
        Snakemake clones, or a local one): its blob, since Snakemake's own reading (``git show``) drops the last
        newline, which would change the code version of a script."""
        from snakemake.sourcecache import HostingProviderFile, LocalGitFile

        if isinstance(source, (HostingProviderFile, LocalGitFile)):
            import git

            if isinstance(source, HostingProviderFile):
                source.fetch_if_required()
                repository = source.hosted_repo.repo
            else:
                repository = git.Repo(source.repo_path)
            # A local repository's paths from the top directory come out of Snakemake's join as "/<path>".
            return repository.commit(source.ref).tree[source.path.lstrip("/")].data_stream.read()
        with self.sourcecache.open(source, "rb") as stream:
            return stream.read()

    def default_configfile(self, name="config/config.yaml"):
        """The config used when none is given: the working directory's ``config/config.yaml`` (the copy
        ``snakedeploy`` made for its user to edit, or this checkout's own), else the workflow's template."""
        return name if os.path.isfile(name) else self.path(name)

    def step_cfg(self, step):
        """The default ``.cfg`` of ``step``: the working directory's ``config/steps/<step>.cfg`` (a deployed
        copy for its user to edit, or this checkout's own: the path it has always had), else the workflow's."""
        relative = f"config/steps/{step}.cfg"
        return os.path.abspath(relative) if os.path.isfile(relative) else self.path(relative)
