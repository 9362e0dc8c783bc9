"""Garbage-collector settings of the snakemake process that plans a night (called by the Snakefile).

Snakemake keeps every job of the plan alive, millions of objects for a night of thousands of frames, and
Python's cyclic collector walks all of them on every full collection: with the default thresholds a dry run
of 2,000 frames made 17 full collections (6.6 s of a 29 s run), and the interpreter's final collections at
exit, which find the whole plan unreachable and free it object by object, took another 5-6 s.
"""

import atexit
import gc

#: Young-generation collections between two full ones (Python's default is 10).
FULL_COLLECTION_EVERY = 1000


def tune_garbage_collection():
    """Make full collections rare and skip the collector at exit; the young generations keep their defaults.

    A full collection still runs every ``FULL_COLLECTION_EVERY`` collections of the middle generation (and
    only once the long-lived objects grew by a quarter), so a long run still frees its old cyclic garbage.
    At exit every object is frozen out of collection: the operating system reclaims the memory. Objects
    still held in reference cycles at exit are then not finalised, which Python does not promise anyway;
    logging flushes its handlers in its own exit hook, which runs after this one.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    atexit.unregister(gc.freeze)  # once, if the Snakefile is read twice in one process
    atexit.register(gc.freeze)
