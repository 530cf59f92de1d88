"""Integrations with other tools, each a plugin on automux's run-event hooks.

Every integration is registered through the ``automux`` entry-point group like
any third-party plugin, and does nothing unless configured (see its module).
"""
