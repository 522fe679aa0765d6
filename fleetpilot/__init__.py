"""fleetpilot: learned multi-robot autonomy with a CBF safety filter as the last word.

The library is ROS-free except :mod:`fleetpilot.ros`. When the ROS interfaces are built
(colcon), their generated ``fleetpilot.msg`` module lives in a second ``fleetpilot`` folder
(the install tree); ``extend_path`` merges both folders into one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
