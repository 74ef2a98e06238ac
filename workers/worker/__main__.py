from workers.worker.build import main

main()
