"""Conversations of commune and provincial officers: joining, the inbox, the dossier card and
what an officer does from it. The flow itself is assembled in ``flow.py``."""
