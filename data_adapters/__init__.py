"""Feed adapters: one folder per feed, the contract they share, their registry and the demo city."""
