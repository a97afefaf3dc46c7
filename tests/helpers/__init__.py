"""The test suite's shared helpers, in one place and imported one way (`from tests.helpers.<module> import ...`):
`paths` (the checkout and its test data), `train` (tiny sweeps, schedules, the command line, injected failures),
`models` (traced counts and random networks), `synthetic` and `reports` (tables and one rendered report)."""
