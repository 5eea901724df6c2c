"""Hotline CTI server: the AMI link, call model, agent sessions, APIs and storage."""
