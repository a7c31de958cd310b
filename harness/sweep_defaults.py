"""A sweep's defaults, apart from the sweep itself: the command line shows them in its help without importing the
runner that a sweep needs (a heavy import on every `gatedrill` start)."""

DEFAULT_RATES = (5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)  # offered req/s, lowest first
DEFAULT_STEP_S = 10.0  # judged seconds per step
DEFAULT_WARM_UP_S = 3.0  # seconds at each step's start, sent and not judged (a fresh gateway's first are slow)
