"""What the Snakemake workflow (Snakefile, rules/) needs from the package to plan a night: its config checked
and validated, the night's files and names, the jobs' resource requests, the CRDS context of the selection,
the locks of a killed run, and what a dry run can promise. Planning imports neither stpipe nor crds; the
steps' parameter check, which needs stpipe, runs only when the parameters change."""
