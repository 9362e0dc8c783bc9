"""Reading a reference store: a directory, or an http(s) URL with the same layout, one file at a time, each
within its deadline.

A file must arrive whole within ``timeout`` seconds of its request, however slowly the store drips it: when
the deadline passes, a watchdog shuts the connection's socket, which ends the read in progress (a socket
timeout alone bounds each read, not the file). A store that stays silent for ``SILENCE`` seconds (connecting
included) fails sooner. Redirects are refused: the fetch talks to the store's address and nothing else.

References are read where the store's layout puts them (``config/ligeriri/ref_cache_subdir_mode``: flat, ours,
or by instrument, the community cache's; ``layout``).
"""

import functools
import http.client
import socket
import threading
import urllib.error
import urllib.request
from contextlib import closing

from .errors import FetchError, MissingFromStore
from .layout import BY_INSTRUMENT, FLAT, OBSERVATORY, SUBDIR_MODE_FILE, check_subdir_mode, reference_instrument

DEADLINE = 600  # seconds, default time for one file to arrive whole
SILENCE = 30  # seconds a store may stay silent within a file's deadline
BLOCK_SIZE = 1 << 20
MAX_SUBDIR_MODE_BYTES = 64


class _Watchdog:
    """Shuts the sockets of one file's download when its deadline passes."""

    def __init__(self, seconds):
        self.expired = False
        self._sockets = []
        self._guard = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock):
        with self._guard:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self):
        with self._guard:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def stop(self):
        self._timer.cancel()


def _shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class _Watched:
    """An http.client connection that hands its socket to a watchdog as soon as it is connected."""

    def __init__(self, *args, watchdog, **kwargs):
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def connect(self):
        super().connect()
        self.watchdog.watch(self.sock)


class _WatchedHTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _WatchedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https connections whose sockets the watchdog of the file may shut."""

    def __init__(self, watchdog):
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, request):
        return self.do_open(functools.partial(_WatchedHTTPConnection, watchdog=self.watchdog), request)

    def https_open(self, request):
        return self.do_open(functools.partial(_WatchedHTTPSConnection, watchdog=self.watchdog), request)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as an error."""

    def redirect_request(self, request, stream, code, message, headers, new_url):
        return None


class StoreReader:
    """Read access to a reference store: a directory or an http(s) URL with the layout of a CRDS cache.

    ``timeout``: seconds each file has to arrive whole (its deadline).
    """

    def __init__(self, location, timeout=DEADLINE):
        self.location = str(location).rstrip("/") or "/"
        self.is_http = self.location.startswith(("http://", "https://"))
        self.timeout = timeout
        self._subdir_mode = None

    def where(self, area, name):
        """Path or URL of the checked file name ``name`` in ``area`` (config, mappings or references)."""
        if area == "references" and self.subdir_mode() == BY_INSTRUMENT:
            return f"{self.location}/{area}/{OBSERVATORY}/{reference_instrument(name, self.location)}/{name}"
        return f"{self.location}/{area}/{OBSERVATORY}/{name}"

    def subdir_mode(self):
        """The layout of the store's references/ (read once): what its ``ref_cache_subdir_mode`` says, or flat."""
        if self._subdir_mode is None:
            where = self.where("config", SUBDIR_MODE_FILE)
            text = b""
            try:
                with closing(self.blocks("config", SUBDIR_MODE_FILE)) as blocks:
                    for block in blocks:
                        text += block
                        if len(text) > MAX_SUBDIR_MODE_BYTES:
                            raise FetchError(f"{where}: larger than {MAX_SUBDIR_MODE_BYTES} bytes, refused")
            except MissingFromStore:
                text = FLAT.encode()
            self._subdir_mode = check_subdir_mode(text.decode("utf-8", "replace").strip(), where)
        return self._subdir_mode

    def blocks(self, area, name):
        """The blocks of a store file as they arrive; FetchError naming its path or URL when the store lacks
        it, cannot be reached, stays silent, or the file misses its deadline. Close the iterator when done."""
        where = self.where(area, name)
        watchdog = _Watchdog(self.timeout)
        try:
            with self._open(where, watchdog) as stream:
                while block := stream.read1(BLOCK_SIZE):
                    if watchdog.expired:
                        break
                    yield block
            if watchdog.expired:  # the read the watchdog ended looks like the end of the file
                raise FetchError(self._late(where))
        except (OSError, http.client.HTTPException) as error:
            if watchdog.expired:
                raise FetchError(self._late(where)) from error
            missing = isinstance(error, FileNotFoundError) or getattr(error, "code", None) == 404
            raise (MissingFromStore if missing else FetchError)(self._problem(where, error)) from error
        finally:
            watchdog.stop()

    def _open(self, where, watchdog):
        if not self.is_http:
            return open(where, "rb")  # noqa: SIM115 (closed by the caller's with)
        opener = urllib.request.build_opener(_NoRedirects, _WatchedHandler(watchdog))
        return opener.open(where, timeout=SILENCE)

    def _late(self, where):
        return f"{where}: not received within its {self.timeout:g} s deadline"

    def _problem(self, where, error):
        """The one-line problem of a failed read of ``where``."""
        if isinstance(error, urllib.error.HTTPError):
            return f"{where}: not in the store" if error.code == 404 else f"{where}: HTTP error {error.code} {error.reason}"
        if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, TimeoutError):
            return f"{self.location}: cannot reach the store ({error.reason})"
        if isinstance(error, TimeoutError | urllib.error.URLError):
            return f"{where}: the store did not answer within {SILENCE} s"
        if isinstance(error, FileNotFoundError):
            return f"{where}: not in the store"
        return f"{where}: cannot read ({getattr(error, 'strerror', None) or error})"
