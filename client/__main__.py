"""`python -m client COMMAND ...`: the user commands alone, without the local cloud's."""
import sys

from client.cli import main

sys.exit(main())
