"""Plumbing for the happy-vs-sad CNN course kit: one module per stage of the course.

The notebooks in `notebooks/` tell the story; these modules hide the boilerplate.
"""
