"""photoshelf.models"""
