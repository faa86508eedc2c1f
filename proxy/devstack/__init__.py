"""Local launchers for vLLM, Prometheus and the proxy, and the demo built from them: used by
`tunewatch demo`, the tests and `bench/`. Every path they need is passed in."""
