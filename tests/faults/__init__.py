"""The fault matrix: damaged sessions built programmatically, every session-reading command run on
each. A cell passes when the command exits 0 and states on stderr what it left out (the valid part
in its output), or exits 2 with exactly one line; never a traceback, a hang or a silent difference.

``python -m tests.faults.matrix`` prints the whole table (damage kinds x commands) as markdown.
"""
