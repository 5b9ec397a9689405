"""photoshelf.viewer"""
