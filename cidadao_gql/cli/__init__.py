"""The `cidadao-gql` command line (`main`, the console script's entry point)."""

from cidadao_gql.cli import importing  # noqa: F401  # registers `import` on the group
from cidadao_gql.cli.commands import main

__all__ = ["main"]
