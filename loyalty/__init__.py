"""The loyalty programme as data and pure rules: no I/O, standard library only."""
