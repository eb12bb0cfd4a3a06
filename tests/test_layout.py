"""The detection core stays pure: importing all of ``stream.core`` loads no server client."""
from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import stream.core
for info in pkgutil.walk_packages(stream.core.__path__, "stream.core."):
    importlib.import_module(info.name)
clients = ("redis", "faust", "aiokafka", "kafka")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in clients)
mine = sorted(m for m in sys.modules
              if m.split(".")[0] == "stream" and m.split(".")[1:2] in (["state"], ["runtime"], ["tools"]))
print(loaded + mine)
"""


def test_the_core_imports_neither_redis_faust_aiokafka_nor_kafka_nor_the_other_packages() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
