"""photoshelf.sidecars"""
