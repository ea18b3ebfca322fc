"""The bug-zoo and healthy-suite case modules (one case per module; the module name is the case id)."""
