"""Does nothing: under a profiler, its run time is the profiler's fixed cost, start-up and
exit (importing itself, starting its threads, writing its output)."""
