"""`python -m envoice_mock` is the `envoice-mock` command."""

import sys

from envoice_mock.cli.main import main

sys.exit(main())
