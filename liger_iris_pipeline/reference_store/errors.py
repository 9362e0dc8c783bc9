"""The errors of the reference store: each message names the file or store and the problem, on one line."""


class StoreError(ValueError):
    """A reference or store that the store writer cannot use."""


class FetchError(ValueError):
    """A fetch that cannot go on."""


class LayoutError(StoreError, FetchError):
    """A rule that a store and a cache share was broken (a refused file name, a lock held too long): an error of
    the store writer and of the fetch alike, so each one's callers catch it as their own."""


class MissingFromStore(FetchError):
    """A file the store does not have (no such file, HTTP 404)."""
