"""Persistence: a journal and snapshots of sessions, queues and retained messages (issue 13).

The core emits state changes to broker.store (a store.Store, None when persistence is
off); the port supplies the files (core/README.md) and calls commit() and compact().
"""
