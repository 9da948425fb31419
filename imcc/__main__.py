"""`python -m imcc` is the `imcc` command."""

from imcc.cli import main

if __name__ == "__main__":
    main()
