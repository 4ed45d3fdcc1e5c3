"""`python -m cidadao_gql.cli`."""

import sys

from cidadao_gql.cli import main

sys.exit(main())
