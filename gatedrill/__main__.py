"""`python -m gatedrill`: the same command line as the `gatedrill` script."""

from gatedrill.harness.cli import main

if __name__ == "__main__":
    main(prog_name="gatedrill")
