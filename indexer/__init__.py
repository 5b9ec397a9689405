"""photoshelf.indexer"""
