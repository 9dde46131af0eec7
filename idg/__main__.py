from idg.run import main

main()
