from predmaint.cli import main

main()
