"""What every layer uses the same way: names and their checks (names.py),
files replaced atomically (files.py).  Imports nothing else of bsdnet."""
