"""Prints how it was started as one JSON line. Run as a script or with -m."""
import json
import sys

print(json.dumps({"argv": sys.argv, "name": __name__}, sort_keys=True))
