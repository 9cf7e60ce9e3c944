"""Process measurements used by the memory tests and the soak benchmark."""


def rss_mb():
    """Resident set size of this process (MB), read from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")
