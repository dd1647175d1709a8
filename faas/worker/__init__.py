"""Workers: a process pool that survives dying processes, and the pull/push workers."""
