"""grader: an auto-grader for deep learning courses.

Data flows forward as frozen dataclasses (see :mod:`grader.models`):
ingest -> run -> judge -> score -> store -> render. Each stage is a plain function;
the CLI (:mod:`grader.cli`) is a thin layer over this API.
"""

__version__ = "0.1.0"
