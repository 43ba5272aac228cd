"""setuptools takes cffi_modules only here; everything else is in
pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["shmrt_build.py:ffibuilder"])
