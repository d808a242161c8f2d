"""HTTP-01 challenge solving: the solver's objects, its tiny server, and its life cycle."""
