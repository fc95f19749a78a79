"""抽查: random, reproducible spot checks that resolved disputes stay resolved."""
