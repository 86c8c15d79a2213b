"""The agent's identity: enrollment, the client credentials on disk, renewal."""
