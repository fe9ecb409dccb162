"""`python -m runops.cli`: the command line."""

from runops.cli.app import main

main()
