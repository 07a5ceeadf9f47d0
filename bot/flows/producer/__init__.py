"""Conversations of producers: registering a product idea, sending documents, asking where a
dossier stands."""
