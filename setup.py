"""pip/setuptools install of the fleetpilot Python library (no ROS needed).

On a robot, ``colcon build`` uses package.xml + CMakeLists.txt instead; this file serves
``pip install -e .`` in a plain virtualenv.
"""

from setuptools import find_packages, setup

setup(
    name="fleetpilot",
    version="0.1.0",
    description="Learned multi-robot autonomy for ROS 2 with an online-tuned CBF safety filter",
    packages=find_packages(include=["fleetpilot", "fleetpilot.*"]),
    python_requires=">=3.10",
    install_requires=["numpy", "scipy", "pyyaml"],
    entry_points={"console_scripts": ["fleetpilot = fleetpilot.cli:main"]},
    license="Apache-2.0",
)
