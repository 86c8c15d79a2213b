"""TURN REST credentials and the ICE server lists handed to both ends of a session."""
