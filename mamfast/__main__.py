"""`python -m mamfast` is the `mamfast` command."""

from mamfast.cli.app import main

main()
