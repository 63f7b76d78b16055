"""``python -m perfectmatch`` runs the CLI."""

import sys

from perfectmatch.cli import main

sys.exit(main())
