"""The rules core: pure functions over immutable models.

Nothing in this package performs I/O, reads the clock or imports an AWS SDK (an import-linter
contract enforces it). "Today" is always an argument.
"""
