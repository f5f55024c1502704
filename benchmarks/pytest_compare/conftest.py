import os
import sys

# lazy_table.py lives next to the tests.
sys.path.insert(0, os.path.dirname(__file__))
