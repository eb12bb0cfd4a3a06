from tests.helpers.prometheus_server import *  # noqa: F403  (old path: tests moved to tests/helpers/)
