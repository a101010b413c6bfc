"""``python -m adapters.sagemaker.emulator``: serve the emulator until Ctrl-C."""

import sys

from ._server import main

sys.exit(main())
