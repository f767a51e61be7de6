"""The ``newsletter`` command: ``main`` builds the app from one module per command or group."""
