"""`python -m gatedrill`: the same command line as the `gatedrill` script."""

from gatedrill.cli import main

if __name__ == "__main__":
    main(prog_name="gatedrill")
