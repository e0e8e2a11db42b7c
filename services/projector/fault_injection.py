"""A test-only crash point between COMMIT and ack, the moment a redelivery of applied events is born.

Off unless `CRISIS_TEST_CRASH_AFTER_COMMIT` holds a probability (0..1): after each committed batch the process
then exits at once with CRASH_EXIT_CODE, as a SIGKILL would leave it (no ack, no cleanup).
"""

import os
import random

CRASH_ENV = "CRISIS_TEST_CRASH_AFTER_COMMIT"
CRASH_EXIT_CODE = 86


def maybe_crash_after_commit() -> None:
    probability = float(os.environ.get(CRASH_ENV) or 0)
    if probability and random.random() < probability:
        os._exit(CRASH_EXIT_CODE)
