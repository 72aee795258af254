"""`python -m bot` runs the same CLI as the `loyaltybot` entry point."""

from bot.cli import main

raise SystemExit(main())
