"""`python -m gatedrill`: the same command line as the `gatedrill` script."""

from gatedrill.entry import run

if __name__ == "__main__":
    run()
