"""The `optout` command: each command's arguments, and the settings they resolve."""
