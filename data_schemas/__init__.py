"""The clinic data contract: tables, single records, ranges and codes.

This package imports nothing else of ours; every other layer imports it.
"""
