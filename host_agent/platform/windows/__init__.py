"""The Windows backend: one thin module of Win32/DXGI calls, the rest pure logic.

``win32.py`` holds every call into Windows (ctypes prototypes, structures, COM vtables) and
the Protocols it implements; nothing else here imports ctypes' Windows parts. The pure
modules take those Protocols as parameters, and the Linux tests drive them through fakes:

- ``keymap``: KeyboardEvent.code <-> set-1 scan codes, JIS keys included (data).
- ``injector``: events -> ``INPUT`` structures for SendInput.
- ``duplication`` and ``pointer``: DXGI Desktop Duplication as the capture pipeline's source.
- ``desktop``: following the input desktop (UAC, lock screen) and the console session.
- ``service``: the LocalSystem service (install, uninstall, start) and its supervisor.
- ``privacy``: the privacy screen and the host banner.
- ``backend``: puts them together for ``platform.backends``.

Only a real Windows PC proves that Windows does what these modules expect of it: see the
README's "Windows agent" check-list.
"""
