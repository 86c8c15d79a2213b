"""The MHLW compliance report: facts gathered from the database, rows, rendering."""
