"""Input from the viewer: the closed event schema, the channel policy, keysyms, the injector
interface.
"""
