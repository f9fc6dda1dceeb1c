"""Actors: trio tasks that move typed messages between the pure core and IO."""
