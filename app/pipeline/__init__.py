"""Feed to store: the runner that schedules every feed and the ingest step both it and `cityops
ingest` use. What is derived from stored data (map, KPIs, alert rules) is plugged in by the caller."""
