"""``python -m stream.tools.redteam``: write a red-team marketplace and its labels."""

from stream.tools.redteam.generate import main

main()
