"""The entry point PyInstaller freezes into mamori-agent.exe (deploy/windows/mamori-agent.spec)."""

from host_agent.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
