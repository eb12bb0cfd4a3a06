from tests.helpers.factories import *  # noqa: F403  (old path: tests moved to tests/helpers/)
