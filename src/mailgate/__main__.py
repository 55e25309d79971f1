from mailgate.bootstrap import main

main()
