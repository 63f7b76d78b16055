"""Face detectors (``ports.FaceDetector``): ``HaarFaceDetector``, offline, on OpenCV's shipped cascades."""

from __future__ import annotations

from perfectmatch.adapters.faces.haar import HaarFaceDetector

__all__ = ["HaarFaceDetector"]
