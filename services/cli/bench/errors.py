"""Why a bench stops: the CLI turns each into a message and an exit code, never a stack trace."""


class BenchRefused(RuntimeError):
    """The servers hold something the bench must not touch (exit 2); nothing was changed."""


class BenchFailed(RuntimeError):
    """A service did not start, or answered a request with an error (exit 1)."""
