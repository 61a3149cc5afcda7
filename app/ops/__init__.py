"""The processes and commands: `cityops up` (the supervisor), the runner process, the CLI."""
