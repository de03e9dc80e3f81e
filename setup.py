from setuptools import setup

setup()  # all metadata is in pyproject.toml; this shim keeps `python setup.py develop` habits working
