"""The center: the PBX, the ACD and the agents meet here (core) and are served (server)."""
