"""`python -m envoice_mock` is the `envoice-mock` command."""

import sys

from .cli import main

sys.exit(main())
