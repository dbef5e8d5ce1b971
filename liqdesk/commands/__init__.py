"""One module per ``liqdesk`` subcommand (see liqdesk.cli)."""
