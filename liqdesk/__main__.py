"""``python -m liqdesk`` runs the command line."""

import sys

from liqdesk.cli import main

sys.exit(main())
