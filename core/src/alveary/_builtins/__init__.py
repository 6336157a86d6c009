"""The kernel's built-in plugins, registered through the core distribution's own entry points."""
