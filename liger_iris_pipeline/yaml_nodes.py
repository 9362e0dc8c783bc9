"""The size of a YAML document with its aliases expanded, measured on its composed nodes (``yaml.compose``).

Measured before anything is built, so that a file of a few kilobytes whose aliases would expand into billions
of nodes (a "billion laughs") is refused before a loader or a validator walks it. The workflow's configs and
the ASDF parameter files of the steps are measured with it.
"""

import yaml


def expanded_size(node, limit):
    """Number of nodes under ``node`` (a composed node, or None) with every alias expanded; counting stops once
    past ``limit``. ValueError naming the line if an alias refers to the node that holds it."""
    return _expanded_size(node, limit, {}, set())


def _expanded_size(node, limit, sizes, active):
    """``expanded_size``, memoised per node in ``sizes`` (aliases share nodes); ``active``: the nodes being counted."""
    if node is None:
        return 0
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ValueError(f"line {node.start_mark.line + 1}: an alias refers to the node that holds it")
    active.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, limit, sizes, active)
        if total > limit:
            break
    active.discard(key)
    sizes[key] = total
    return total
