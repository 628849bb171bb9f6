"""The regional stack program (``__main__.py``), its typed settings and the stacks' config files (package data)."""
