"""Captured payloads: what a model's `capture` policy keeps of each call, sealed and managed.

`capture.py` (request path: decides, collects a stream's chunks), `sealing.py` (writer thread:
builds the document, redacts it, encrypts it; and opens it again), `keys.py` (AES-256-GCM keys
and rotation), `retention.py` (the background purge), `erasure.py` (deleting a user's data,
re-encryption). Rows live in `storage/payloads.py`.
"""
