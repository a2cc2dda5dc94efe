"""Peak resident memory of a benchmark's child process, measured right.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is no good in a child: Linux starts a forked
process's ``ru_maxrss`` at its parent's and keeps it across ``exec``, so a child of a parent that
once held 519 MB reports at least 519 MB whatever it does (seen in ``bench_scale`` at 2M rows,
where every stage said 519 MB). ``VmHWM`` in ``/proc/self/status`` is the high-water mark of the
process's own address space, which ``exec`` makes new.
"""

from __future__ import annotations

#: Code for a child's script: sets ``rss`` to its peak resident memory in MB (``VmHWM``).
RSS_CODE = (
    "rss = next(int(line.split()[1]) for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:')) / 1024"
)
