"""``python -m faas`` is the ``faas`` command."""

from faas.cli import main

if __name__ == "__main__":
    main()
