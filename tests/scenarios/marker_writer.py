"""Creates the file named by argv[1]: proof that the program ran."""
import sys

with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("ran\n")
