"""A local, isolated Asterisk 22 for Hotline: provisioning, start/stop, network namespaces.

See docs/asterisk.md. Entry points: :func:`~cti.asterisk.provision.ensure_install`,
:class:`~cti.asterisk.instance.AsteriskInstance`, the ``hotline asterisk`` command
(:mod:`cti.asterisk.cli`).
"""
