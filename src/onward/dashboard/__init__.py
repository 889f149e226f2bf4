"""The interactive dashboard: a Solara app over onward's Python API.

``onward dashboard`` serves it on 127.0.0.1. The package is split so that the parts that
decide something can be tested without a browser:

``inputs``
    The controls a scenario offers (sliders for the main parameters, a policy date) and the
    server-side check of every value a page sends, with one message per bad value.
``results``
    Runs a checked setting through :func:`onward.simulate` (a bounded number at a time)
    and reads the results store with short-lived connections.
``figures``
    The flows chart: simulated first claims per destination and year, observed overlaid.
``app``
    The Solara page (layout and wiring only).
``server``
    Starts the page on a loopback address with every asset served locally.

No model logic lives here: the dashboard calls the scenario loader, the engine's
``simulate`` and the analysis helpers, exactly as a script would.
"""
