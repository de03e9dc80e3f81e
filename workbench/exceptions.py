"""Every error Workbench raises on purpose. Each message names the bad value and the next step.

Over zerorpc a client sees these as ``RemoteError`` whose ``name`` is the class name below.
"""


class WorkbenchError(Exception):
    """Base class: an error a user can act on."""


class BadArgument(WorkbenchError):
    """An argument has the wrong type or form (e.g. an md5 that is not 32 hex digits)."""


class UnknownMD5(WorkbenchError):
    """No sample with that md5 is stored."""


class UnknownWorker(WorkbenchError):
    """No loaded worker has that name (or it failed to load)."""


class UnknownSampleSet(WorkbenchError):
    """No sample set has that id."""


class SampleTooLarge(WorkbenchError):
    """A sample is larger than ``max_sample_size_mb``."""


class WorkerFailed(WorkbenchError):
    """A worker raised; that request fails, the server goes on. ``kind`` is a closed vocabulary of outcomes."""

    kind = "raised"


class WorkerNotApplicable(WorkerFailed):
    """The worker does not accept this sample's type_tag (its ``applies_to``)."""

    kind = "not_applicable"


class BadOutput(WorkerFailed):
    """The worker returned something that is not a dict of JSON types."""

    kind = "bad_output"


class WorkerTimeout(WorkerFailed):
    """A worker ran longer than its timeout and was stopped."""

    kind = "timed_out"


class WorkerCrashed(WorkerFailed):
    """The process running a worker died (segfault, os._exit, killed); out of memory is a WorkerFailed."""

    kind = "crashed"


class ServerBusy(WorkbenchError):
    """This client already has ``max_inflight_per_client`` requests running; retry when some finish."""


class StoreError(WorkbenchError):
    """The data store cannot be opened or is in a bad state."""


class ServerUnavailable(WorkbenchError):
    """The server cannot run chains right now: it is shutting down, or its worker processes would not start."""
