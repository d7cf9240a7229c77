"""`python -m mamfast` is the `mamfast` command."""

from mamfast.cli.entry import main

main()
