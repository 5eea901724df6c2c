"""A PBX simulator speaking the real AMI wire protocol, simulated phones, trunk load."""
