"""``HaarFaceDetector``: OpenCV's pre-trained frontal-face Haar cascade, shipped inside the
``opencv-python-headless`` 4.x wheel, so the face check runs offline with no model download."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from perfectmatch.errors import ConfigError
from perfectmatch.ports import FaceBox

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


class HaarFaceDetector:
    """``ports.FaceDetector`` with a Viola-Jones cascade.

    Parameters
    ----------
    cascade
        File name inside ``cv2.data.haarcascades`` or a path to a cascade XML.
    min_face_ratio
        Smallest face side as a fraction of the image's shorter side (a profile photo shows the
        face, not a speck in a crowd); never below 24 px.
    max_side
        Larger images are scaled down to this side before detection (speed); boxes are scaled back.

    Safe to share between threads: OpenCV's classifier is not, so each thread loads its own.
    """

    def __init__(
        self,
        cascade: str = DEFAULT_CASCADE,
        *,
        min_face_ratio: float = 0.1,
        max_side: int = 640,
        scale_factor: float = 1.1,
        min_neighbors: int = 8,
    ) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise ImportError("the face check needs OpenCV: pip install 'perfectmatch[photos]'") from exc
        path = Path(cascade) if Path(cascade).is_file() else Path(cv2.data.haarcascades) / cascade
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise ConfigError(f"face cascade {cascade!r} could not be loaded (looked at {path})")
        self._cv2 = cv2
        self._path = str(path)
        self._local = threading.local()  # a CascadeClassifier is not thread-safe: one per thread
        self._local.classifier = classifier
        self.min_face_ratio = min_face_ratio
        self.max_side = max_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def _classifier(self) -> Any:
        classifier = getattr(self._local, "classifier", None)
        if classifier is None:
            classifier = self._local.classifier = self._cv2.CascadeClassifier(self._path)
        return classifier

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        cv2 = self._cv2
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        side = max(24, int(self.min_face_ratio * min(gray.shape)))
        found = self._classifier().detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return [FaceBox(*(round(int(v) / scale) for v in box)) for box in found]
