"""Reading a reference store: a directory, or an http(s) URL with the same layout.

Redirects are refused: the fetch talks to the store's address and nothing else.
"""

import urllib.error
import urllib.request
from contextlib import contextmanager

from .errors import FetchError
from .layout import OBSERVATORY

HTTP_TIMEOUT = 30  # seconds, default wait for each answer (and each block) of an http(s) store
BLOCK_SIZE = 1 << 20


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as an error."""

    def redirect_request(self, request, stream, code, message, headers, new_url):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class StoreReader:
    """Read access to a reference store: a directory or an http(s) URL with the layout of a CRDS cache."""

    def __init__(self, location, timeout=HTTP_TIMEOUT):
        self.location = str(location).rstrip("/") or "/"
        self.is_http = self.location.startswith(("http://", "https://"))
        self.timeout = timeout

    def where(self, area, name):
        """Path or URL of the checked file name ``name`` in ``area`` (config, mappings or references)."""
        return f"{self.location}/{area}/{OBSERVATORY}/{name}"

    @contextmanager
    def open(self, area, name):
        """A binary stream of a store file; FetchError when the store lacks it or cannot be reached."""
        where = self.where(area, name)
        try:
            stream = _OPENER.open(where, timeout=self.timeout) if self.is_http else open(where, "rb")  # noqa: SIM115
        except urllib.error.HTTPError as error:
            problem = "not in the store" if error.code == 404 else f"HTTP error {error.code} {error.reason}"
            raise FetchError(f"{where}: {problem}") from error
        except urllib.error.URLError as error:
            raise FetchError(f"{self.location}: cannot reach the store ({error.reason})") from error
        except TimeoutError as error:
            raise FetchError(f"{where}: {self.silence()}") from error
        except FileNotFoundError as error:
            raise FetchError(f"{where}: not in the store") from error
        except OSError as error:
            raise FetchError(f"{where}: cannot read ({error.strerror or error})") from error
        with stream:
            yield stream

    def silence(self):
        """The problem when the store stops answering: how long we waited."""
        return f"the store did not answer within {self.timeout} s"
