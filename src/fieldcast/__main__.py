from fieldcast.cli import main

main()
