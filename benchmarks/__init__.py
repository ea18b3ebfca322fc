"""deeplocalize benchmarks: the bug zoo (with the healthy suite) and the overhead benchmark."""
