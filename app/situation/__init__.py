"""What the city looks like now, for people: the live map's read model and published snapshots
(``mapdata``), and the situation report with its exports (``report``)."""
