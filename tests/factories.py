from tests.helpers.factories import *  # noqa: F401,F403  (old path: tests moved to tests/helpers/)
