"""The `cityops` subcommands, one module per kind; each registers its commands with add_parser."""
