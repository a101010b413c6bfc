"""``python -m adapters._cli``: the same as the ``jobferry`` console script."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
