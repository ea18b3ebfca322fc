"""The bug zoo: buggy training programs with fixed twins, and healthy models. See ``case.py``."""
