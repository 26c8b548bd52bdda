"""The package version, read by the build (pyproject's hatch version source) and at run time.

Kept as a literal so importing the package does not pay for importlib.metadata.
"""

__version__ = "0.1.0"
