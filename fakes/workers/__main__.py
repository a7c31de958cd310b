"""`python -m gatedrill.fakes.workers ...`: one worker process (`worker.main`)."""

import sys

from .worker import main

sys.exit(main())
