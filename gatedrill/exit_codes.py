"""The command line's exit codes, in one place: the harness's commands use them, and so does the script's first
code (`gatedrill.entry`), which must stay light enough to import before anything else."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INFRA = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
