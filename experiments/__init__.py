"""Research experiments and probes (not the product): drivers that train, evaluate and tabulate."""
