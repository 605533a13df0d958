"""User-facing errors.

Every mistake a user can make (a bad file, an unsupported op, a type that cannot hold a value,
missing tools) raises a `QconvError`. The CLI prints its message as one line and exits with
`exit_code`; it never shows a traceback for these.
"""


class QconvError(Exception):
    """A problem with the user's input or environment, described so they can act on it."""

    exit_code = 2


class UnsupportedError(QconvError):
    """The model uses an op, attribute or quantizer form that qconv does not implement."""


class BatchAxisError(UnsupportedError):
    """An op reshapes, transposes or reduces across the first axis, which qconv takes as the batch
    (frontend/batch_axis.py may then import the model as one sample)."""


class ModelError(QconvError):
    """The model file is malformed or inconsistent."""


class TypeOverflowError(QconvError):
    """A fixed-point type is too wide for exact simulation, or cannot hold what it must."""


class UnknownPartError(QconvError):
    """The FPGA part is not in qconv's capacity table (design/parts.py) and none was given by hand."""


class ToolchainError(QconvError):
    """g++ or the Xilinx ap_types headers are missing or failed."""


class MismatchError(QconvError):
    """The C simulation and the numpy simulator disagree: a release-blocking bug."""

    exit_code = 1


class ConformanceError(QconvError):
    """`qconv conform`: a model fails unexpectedly (or a recorded refusal no longer happens)."""

    exit_code = 1
