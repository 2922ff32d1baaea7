"""widgets.base: throttled redraws, the cache, static renders, and what every live app shares."""

from fakes import FakeTimer, control

from mae_lab import widgets as W


def test_throttle_runs_at_once_then_coalesces_into_one_trailing_run():
    calls = []
    timer = FakeTimer()
    throttle = W.Throttle(
        lambda: calls.append(timer.now), interval=0.1, clock=timer.clock, schedule=timer.schedule
    )
    throttle()
    assert len(calls) == 1  # leading edge: immediate
    for _ in range(5):
        throttle()
    assert len(calls) == 1 and len(timer.scheduled) == 1  # merged, one timer
    timer.fire()
    assert len(calls) == 2  # the trailing run draws the final state
    timer.now += 1.0
    throttle()
    assert len(calls) == 3  # quiet period over: immediate again


def test_throttle_without_interval_or_loop_runs_synchronously():
    calls = []
    W.Throttle(lambda: calls.append(1))()
    assert calls == [1]
    throttle = W.Throttle(lambda: calls.append(2), interval=10.0)
    throttle()
    throttle()  # no running event loop here: the default scheduler runs it now
    assert calls == [1, 2, 2]


def test_lru_cache_evicts_the_least_recently_used():
    cache = W.LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2


def test_static_html_export_shows_the_picture_instead_of_a_dead_widget(images):
    import nbformat
    from nbconvert import HTMLExporter

    app = W.MaskExplorer(images)
    bundle = app._repr_mimebundle_()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("MaskExplorer(images)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    notebook.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in html


def test_front_end_drags_are_throttled_and_the_last_value_wins(images):
    app = W.MaskExplorer(images, throttle_s=0.1)
    timer = FakeTimer()
    app.throttle.clock, app.throttle.schedule = timer.clock, timer.schedule
    ratio = control(app, "mask ratio")
    ratio.set_state({"value": 0.3})  # as the browser sends it: drawn at once (leading edge)
    assert app.mask.num_hidden == round(64 * 0.3)
    drawn = app.image_bytes
    for value in (0.4, 0.5, 0.6):
        ratio.set_state({"value": value})
    assert app.image_bytes == drawn and len(timer.scheduled) == 1  # coalesced, nothing stale drawn
    timer.fire()
    assert app.mask.num_hidden == round(64 * 0.6)
    ratio.value = 0.1  # from Python: always synchronous
    assert app.mask.num_hidden == round(64 * 0.1)


