from tests.helpers.bad_input import *  # noqa: F403  (old path: tests moved to tests/helpers/)
