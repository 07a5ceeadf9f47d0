"""OCOP domain core: rules, plans, dossiers and who may do what with them.

Imports nothing from ``bot`` and no transport library.
"""

__version__ = "0.1.0"
