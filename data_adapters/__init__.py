"""Feed adapters (one folder per feed) and the runner that schedules them."""
