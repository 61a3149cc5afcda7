"""The store's typed errors."""


class AlreadyExists(Exception):
    """The record to create exists already."""


class NotFound(Exception):
    """The record to change does not exist."""

