"""autogen: Python bindings (cffi cdefs, constants, ioctl numbers) generated from real C headers.

A developer tool, not part of any distribution; see autogen/README.md.
"""
