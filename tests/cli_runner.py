from tests.helpers.cli_runner import *  # noqa: F403  (old path: tests moved to tests/helpers/)
