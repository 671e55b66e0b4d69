"""Rate limits that hold across replicas: fixed-window counters in the state database (or Redis when set)."""
