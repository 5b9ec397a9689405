"""photoshelf: an in-place photo library indexer with a read-mostly web viewer."""

__version__ = "0.1.0"
