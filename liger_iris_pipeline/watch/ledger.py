"""The watcher's ledger: every frame it has seen and what became of it, in SQLite.

A frame is ``pending`` once complete, ``running`` while calibrated, ``reduced`` once its calibrated product is
written (its quick-look owed), then ``done`` (every product written) or ``failed`` (reported and skipped). Each change is one transaction, made durable before the watcher goes on
(``synchronous = FULL``), so a watcher killed at any moment finds on restart exactly what it had done. Products
are written by rename: a frame left ``running`` either has a product or not, and ``recover`` sends it back to
``pending``; reducing it again skips the products that exist (``service.calibrate_frame``), so none is made
twice; a ``reduced`` frame gets its quick-look.
"""

import sqlite3
import time

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    path TEXT PRIMARY KEY,
    observation TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'reduced', 'done', 'failed')),
    completed REAL NOT NULL,
    started REAL,
    reduced REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
)
"""


class Ledger:
    """The ledger at ``path`` (created if missing); one per watcher."""

    def __init__(self, path):
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(SCHEMA)

    def close(self):
        self._db.close()

    def add(self, path, observation, completed=None):
        """Record a complete frame as pending; False if the ledger knows it already (it is never reduced twice)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO frames (path, observation, state, completed) VALUES (?, ?, 'pending', ?)",
            (str(path), observation, time.time() if completed is None else completed),
        )
        return cursor.rowcount == 1

    def next_pending(self):
        """(path, observation) of the frame that completed first among the pending ones, or None."""
        return self._db.execute(
            "SELECT path, observation FROM frames WHERE state = 'pending' ORDER BY completed, path LIMIT 1"
        ).fetchone()

    def start(self, path):
        self._db.execute(
            "UPDATE frames SET state = 'running', started = ?, attempts = attempts + 1 WHERE path = ?", (time.time(), path)
        )

    def reduced(self, path):
        """The frame's calibrated product is written (the latency the observers see ends here); its quick-look
        is owed."""
        self._db.execute("UPDATE frames SET state = 'reduced', reduced = ? WHERE path = ?", (time.time(), path))

    def reduced_frames(self):
        """(path, observation) of the frames calibrated whose quick-look is not yet made, in completion order."""
        return self._db.execute(
            "SELECT path, observation FROM frames WHERE state = 'reduced' ORDER BY completed, path"
        ).fetchall()

    def finish(self, path):
        self._db.execute("UPDATE frames SET state = 'done', finished = ? WHERE path = ?", (time.time(), path))

    def fail(self, path, error):
        self._db.execute(
            "UPDATE frames SET state = 'failed', finished = ?, error = ? WHERE path = ?", (time.time(), error, path)
        )

    def recover(self):
        """Frames a killed watcher left running go back to pending; their number."""
        return self._db.execute("UPDATE frames SET state = 'pending' WHERE state = 'running'").rowcount

    def state(self, path):
        row = self._db.execute("SELECT state FROM frames WHERE path = ?", (str(path),)).fetchone()
        return row[0] if row else None

    def status(self):
        """Counts by state, the queue (pending), the last and the 99th-percentile latency (seconds from complete
        to the calibrated product written) and the failed frames with their errors."""
        counts = dict(self._db.execute("SELECT state, COUNT(*) FROM frames GROUP BY state").fetchall())
        latencies = [
            row[0] for row in self._db.execute(
                "SELECT reduced - completed FROM frames WHERE state = 'done' AND reduced IS NOT NULL ORDER BY reduced"
            )
        ]
        failed = self._db.execute("SELECT path, error FROM frames WHERE state = 'failed' ORDER BY finished").fetchall()
        return {
            "counts": {state: counts.get(state, 0) for state in ("pending", "running", "reduced", "done", "failed")},
            "queue": counts.get("pending", 0),
            "last_latency_s": latencies[-1] if latencies else None,
            "p99_latency_s": float(np.percentile(latencies, 99)) if latencies else None,
            "failed": [{"path": path, "error": error} for path, error in failed],
        }
