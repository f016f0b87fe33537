"""The one error type of kinstall. Domain code raises it; only the CLI prints it and exits."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, documented in the README. Each names a class of failure a script can act on."""

    OK = 0
    INVALID = 1  # the inventory (or another input file) is invalid
    USAGE = 2  # the command line itself is wrong, or a named file does not exist
    UNREACHABLE = 3  # one or more hosts could not be reached
    TASK_FAILED = 4  # a task failed on a host
    INTERRUPTED = 5  # the run was interrupted (Ctrl-C, SIGTERM)
    LOCKED = 6  # another kinstall run holds the cluster's lock
    ENVIRONMENT = 7  # this machine lacks a prerequisite (e.g. podman for the lab)
    NOT_IDEMPOTENT = 8  # --check-idempotent: the second run changed something
    VERIFY_FAILED = 9  # `kinstall verify`: a check failed
    INTERNAL = 70  # a bug in kinstall; --debug shows the traceback


class KinstallError(Exception):
    """An error meant for the user: a message that says what to do, and an exit code."""

    exit_code: ExitCode = ExitCode.INVALID

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(KinstallError):
    exit_code = ExitCode.USAGE


class InvalidInput(KinstallError):
    """Raised with a full validation report attached, so the CLI can render every finding."""

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class EnvironmentProblem(KinstallError):
    exit_code = ExitCode.ENVIRONMENT
