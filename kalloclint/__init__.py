"""kalloclint: find misuse of the Linux kernel's memory-allocation APIs, from source, without a build."""

__version__ = "0.1.0"
