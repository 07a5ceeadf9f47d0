"""Use cases. Each takes an open session, the ``CoreContext`` and the acting ``Actor``."""
