"""X11 backend: XTEST injector, keymap, the on-screen indicator, the local-input lock."""
