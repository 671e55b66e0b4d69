"""Privacy requests as a privacy team works them: cases with legal deadlines, decisions and a record (issue 14)."""
