"""Throwaway servers on 127.0.0.1 for tests and benchmarks: PostgreSQL, SeaweedFS (S3), nginx and
``partsbin serve`` itself. Each lives in a temp folder, on free loopback ports, and is stopped
(and its folder removed) by its ``stop()``; a process left behind by a crashed run is killed by
the next one (see :mod:`core.testing.servers.process`)."""
