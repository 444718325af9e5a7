"""Where the packages are; the rest of the metadata lives in pyproject.toml.

migrations/ stays at the top level of the repository (Flask-Migrate's layout) and
ships inside the wheel as the package `usergate.migrations`, so that an installed
usergate can run `flask --app usergate db upgrade` from any directory.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "usergate.migrations", "usergate.migrations.versions"],
    package_dir={"": "src", "usergate.migrations": "migrations"},
)
