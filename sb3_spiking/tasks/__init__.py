"""Tasks beyond the library core: an environment, a privileged guide and how success is measured.

Each sub-package is one task; it imports nothing from the other tasks.
"""
