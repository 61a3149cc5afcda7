"""`cityops soak`: the demo city at scale with faults injected on a schedule, memory over time."""
