"""Deployment export shared by every learned network: TorchScript and ONNX, checked against eager.

Each network contributes an :class:`~fleetpilot.export.formats.ExportSpec` (a plain-tensor
module, names, dynamic axes and check inputs); :func:`~fleetpilot.export.formats.export_spec`
writes the files and the agreement report. :mod:`fleetpilot.export.folders` tells which network a
saved folder holds.
"""
