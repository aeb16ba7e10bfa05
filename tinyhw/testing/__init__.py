"""tinyhw.testing: the conformance suite every backend runs — a pytest plugin plus behaviour tests.

Run it against any installed device:

    pytest --pyargs tinyhw.testing --tinyhw-device=cpu        # or TINYHW_TEST_DEVICE=cpu
    pytest --pyargs tinyhw.testing.test_copies --tinyhw-device=myvendor:1 -rsx

The plugin (`tinyhw.testing.plugin`) is registered through pytest's `pytest11` entry point, so the
option and fixtures exist in every pytest run once tinyhw is installed; without a device the
suite's tests skip. One module per concern: allocation, copies, launch, ordering, signals
(hangs, timeouts, Ctrl-C), errors on bad input, leaks, layers and graphs.

What a vendor provides:

- kernels: the suite's seven kernels in the backend's source language, returned by the
  `tinyhw_conformance_kernels(renderer)` registration hook (semantics in `tinyhw.testing.kernels`;
  `kernels_for(device)` shows which sources a device gets);
- capabilities (`tinyhw.Capabilities` on the Backend): optional features it supports ("hcq" for
  the command-queue API with signals, "graph" for `tinyhw.hcq.Graph`, "host-visible-memory");
  tests marked `@pytest.mark.tinyhw_requires(feature)` skip otherwise, with the reason given in
  `unsupported[feature]`;
- expected failures: `expected_failures` maps a test name to a reason. The name may be
  "test_fill", "test_fill[100]" or "test_launch.py::test_fill[100]". Such tests are strict xfails:
  one that passes fails the run, so the list stays honest.

Fixtures (prefixed, since the plugin is active in every pytest run): `tinyhw_device_name`,
`tinyhw_device` (shared within a module, closed at its end), `tinyhw_open` (a factory of freshly
opened devices, closed at teardown), `tinyhw_kernel` (`kernel(name, device=None)` -> Program).
A vendor's own tests may use them too.
"""

__all__: list[str] = []
