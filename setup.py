"""Maps the top-level folders onto the single ``corrviz`` import namespace.

``core/`` installs as ``corrviz.core``, ``app/`` as ``corrviz.app``, ``training/`` as
``corrviz.training`` and ``resources/`` as ``corrviz.resources``; nothing generic such as
``core`` lands in site-packages. Metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = {"core": "corrviz.core", "app": "corrviz.app", "training": "corrviz.training",
           "resources": "corrviz.resources"}

packages = []
for folder, name in FOLDERS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir={name: folder for folder, name in FOLDERS.items()},
    package_data={"corrviz.resources": ["**/*.png", "**/*.json", "**/*.qss", "**/*.svg"],
                  "corrviz.training": ["configs/*.yaml"]},
)
