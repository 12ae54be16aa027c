from sb3_spiking.zoo.cli import main

main()
