from dsar.cli.app import main

main()
