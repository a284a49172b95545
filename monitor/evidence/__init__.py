"""Evidence: what makes an event trustworthy once the gate has seen it.

``spool``    the durable append-only file every accepted event reaches (fsynced) before the
             database does — a crash between the two loses nothing, start-up replays it.
``sink``     the only code that inserts event rows: idempotent (unique ``uid``), ordered
             across gates on PostgreSQL, and NOTIFYs the web process after commit.
``presence`` device last-seen/IP and the "seen but unregistered" rows, throttled off the
             DNS hot path.
``episodes`` the query side of :mod:`allowlist.episodes` for reports and the dashboard.

Data flows one way: gate → :class:`monitor.events.EventWriter` → spool → sink → database.
"""
