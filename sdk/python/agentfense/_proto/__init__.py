"""Stubs generated at build time from the repository's proto/ (package sandbox.v1).

Not committed and not hand-written: see setup.py. Import the modules from here, e.g.
``from agentfense._proto import sandbox_pb2``.
"""
