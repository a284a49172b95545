"""The shared database: the only thing the gate and the web process have in common (DESIGN §2).

Lives under ``monitor`` because the gate is the writer of the evidence; the web process imports
it without needing any privilege.
"""
