"""`python -m runops`: the command line."""

from runops.cli import main

main()
