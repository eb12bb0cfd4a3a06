"""Tools around the detector: replay, simulate, red team, evaluate, bench, demo, what-if and the embedded dev stack."""
