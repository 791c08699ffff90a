"""inbox-graph: the GraphQL API of an omnichannel customer inbox.

:data:`__version__` is the installed package's version (``pyproject.toml``, read through
:mod:`importlib.metadata`: one place). It is the version of the public schema too: the
``CHANGELOG.md`` lists every release, ``schema/released.graphql`` is the last released
schema. ``inbox-graph --version`` prints it and every HTTP response carries it in the
``X-Inbox-Graph-Version`` header (:mod:`graph.app`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inbox-graph")
except PackageNotFoundError:  # a checkout used without `pip install -e .`
    __version__ = "0+unknown"

__all__ = ["__version__"]
