from services.cli.main import cli

cli()
