"""The build engine: the castore FUSE filesystem and its mount, the runc wrapper, the service."""
