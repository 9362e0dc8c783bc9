"""The real-time watcher: every raw frame that lands in a watched directory reduced once, as the workflow would."""
