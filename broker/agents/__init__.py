"""Clinic PCs: the per-clinic agent CA, enrollment, hosts, agent authentication and the watch on
live links.
"""
