"""``python -m cmp``: the ``cmpkit`` command."""

from cmp.cli import main

if __name__ == "__main__":
    main(prog_name="cmpkit")
