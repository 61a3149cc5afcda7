"""What the city looks like now, for people: feed health, entity read models, the live map's
read model and published snapshots, and the situation report."""
