"""gatedrill: test and drill LLM gateways against provider-accurate fake upstreams.

The import packages live in the repository's top-level folders and install as subpackages of this one
(`gatedrill.harness`, `gatedrill.fakes`, `gatedrill.contracts`, `gatedrill.scenarios`), so that generic names such
as `contracts` never collide with other distributions. `__version__` is the single source of the version
(pyproject.toml reads it).
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
