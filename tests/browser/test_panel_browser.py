"""The control panel in a real browser (Debian chromium through Playwright) over the seeded 4-day demo."""

from __future__ import annotations

import re

import pytest

from suvar.demo.basin import FAVOURED

from .conftest import ARTIFACTS, axe_violations, login

VIEWS = ["/", "/utilities/ltown", "/utilities/ltown/zones/A", "/alarms", "/allocation", "/sectors"]


def api(page, path: str):  # noqa: ANN001, ANN201
    """GET an API path with the page's session cookie."""
    r = page.request.get(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + path)
    assert r.ok, f"{path}: {r.status} {r.text()}"
    return r.json()


def shot(page, name: str) -> None:  # noqa: ANN001
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_login_is_required_and_refuses_a_wrong_password(page, panel) -> None:  # noqa: ANN001
    page.goto(panel.url + "/alarms")
    assert "/login?next=%2Falarms" in page.url
    page.fill("#username", "ops")
    page.fill("#password", "wrong password here")
    page.click("form#login button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.url.startswith(panel.url + "/login")
    shot(page, "login")


def test_overview_shows_the_apis_numbers_and_a_coloured_map(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "ops")
    data = api(page, "/api/v1/overview")
    h = data["headline"]
    tiles = {li.get_attribute("data-key"): li for li in page.query_selector_all("#headline li")}
    assert float(tiles["nrw_pct"].get_attribute("data-value")) == pytest.approx(h["nrw_pct"])
    assert tiles["nrw_pct"].query_selector(".value").inner_text() == f"{h['nrw_pct']:.1f}%"
    assert float(tiles["real_losses_m3"].get_attribute("data-value")) == pytest.approx(h["real_losses_m3"])
    assert tiles["real_losses_m3"].query_selector(".value").inner_text() == f"{h['real_losses_m3']:,.0f} m³"
    assert int(tiles["open_leak_alarms"].get_attribute("data-value")) == h["open_leak_alarms"] == 1
    assert float(tiles["allocation_coverage"].get_attribute("data-value")) == pytest.approx(h["allocation_coverage"])
    assert tiles["drought"].get_attribute("data-value") == h["drought"]["severity"]
    zones = sum(len(u["zones"]) for u in data["utilities"])
    assert zones == 5 and len(page.query_selector_all("#zone-table tr[data-zone]")) == zones
    for row in page.query_selector_all("#zone-table tr[data-zone]"):
        z = next(z for u in data["utilities"] if u["utility_id"] == row.get_attribute("data-utility")
                 for z in u["zones"] if z["zone_id"] == row.get_attribute("data-zone"))
        assert float(row.get_attribute("data-nrw")) == pytest.approx(z["nrw_pct_volume"])
    page.wait_for_function("document.getElementById('country-map').dataset.features")
    features = int(page.get_attribute("#country-map", "data-features"))
    assert features == zones + len(data["basins"]) == 6
    assert len(page.query_selector_all("#country-map path.leaflet-interactive")) == features
    fills = {p.get_attribute("fill") for p in page.query_selector_all("#country-map path.leaflet-interactive")}
    assert fills <= {"#2da44e", "#bf8700", "#cf222e", "#6e7781"} and len(fills) >= 2
    shot(page, "overview")


def test_zone_view_draws_network_balance_and_charts(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "ana", "/utilities/ltown/zones/A")
    data = api(page, "/api/v1/utilities/ltown/zones/A/panel?range=7d")
    geo = api(page, "/api/v1/utilities/ltown/network.geojson")
    pipes = sum(1 for f in geo["features"] if f["properties"]["layer"] == "link")
    page.wait_for_function("document.getElementById('network-map').dataset.pipes")
    assert int(page.get_attribute("#network-map", "data-pipes")) == pipes > 900
    drawn = len(page.query_selector_all("#network-map .leaflet-overlay-pane path"))
    sensors = sum(1 for f in geo["features"] if f["properties"]["layer"] == "sensor")
    zones = sum(1 for f in geo["features"] if f["properties"]["layer"] == "zone")
    assert drawn == pipes + sensors + zones
    box = data["box"]
    assert box["date"] == "2026-10-04"
    for key in ("system_input_volume_m3", "real_losses_m3", "nrw_pct_volume", "ili"):
        assert float(page.get_attribute(f"#balance-box [data-key={key}], #balance [data-key={key}]",
                                        "data-value")) == pytest.approx(box[key])
    assert page.inner_text("[data-key=system_input_volume_m3]") == f"{box['system_input_volume_m3']:,.0f} m³"
    for chart in ("chart-pressure", "chart-flow", "chart-night"):
        assert page.query_selector(f"#{chart} canvas") is not None
        assert int(page.get_attribute(f"#{chart}", "data-points")) > 0
    assert int(page.get_attribute("#chart-pressure", "data-points")) == len(data["series"]["pressure"]["ts"]) == 384
    # the inflow chart is the boundary meters' net inflow: its mean times 24 h is near the box's system input
    flow = [v for v in data["series"]["flow"]["value"][-96:] if v is not None]
    assert sum(flow) / len(flow) * 24 == pytest.approx(box["system_input_volume_m3"], rel=0.05)
    shot(page, "zone")
    page.check("input[name=range][value='24h']")
    page.click("form.range button[type=submit]")
    page.wait_for_url(re.compile(r"range=24h"))
    page.wait_for_selector("#chart-pressure canvas")
    assert int(page.get_attribute("#chart-pressure", "data-points")) == 96


def test_acknowledging_an_alarm_updates_it_and_the_audit_log(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "ops", "/alarms?status=open")
    row = page.query_selector("#alarm-table tr[data-status=open]:has(button.ack)")
    alarm_id = int(row.get_attribute("data-alarm"))
    row.query_selector("button.ack").click()
    page.wait_for_selector(f"#alarm-{alarm_id}[data-status=acknowledged]")
    assert page.query_selector(f"#alarm-{alarm_id} button.ack") is None
    stored = next(a for a in api(page, "/api/v1/alarms") if a["alarm_id"] == alarm_id)
    assert stored["status"] == "acknowledged" and stored["acknowledged_by"] == "ops"
    page.context.clear_cookies()
    login(page, panel, "boss", f"/alarms/{alarm_id}")
    trail = page.query_selector_all("#trail tbody tr")
    assert [r.query_selector_all("td")[2].inner_text() for r in trail] == ["ops"]
    assert trail[0].query_selector_all("td")[3].inner_text() == "alarm_ack"
    audit = api(page, "/api/v1/ledger/audit")
    assert any(e["content"]["action"] == "alarm_ack" and e["content"]["what"]["alarm_id"] == alarm_id
               and e["content"]["who"] == "ops" for e in audit)


def test_a_leak_alarm_opens_a_map_with_its_candidate_pipes_and_survey_area(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "view", "/alarms?kind=leak")
    assert page.query_selector("button.ack") is None  # a viewer may not acknowledge
    page.click("#alarm-table a")
    page.wait_for_function("document.getElementById('network-map').dataset.candidates")
    assert int(page.get_attribute("#network-map", "data-candidates")) == 3
    assert len(page.query_selector_all("#network-map path.candidate")) == 3
    # the survey area's other pipes (within 300 m of the pipe named), drawn under the candidates
    assert int(page.get_attribute("#network-map", "data-area")) == 2
    assert len(page.query_selector_all("#network-map path.area")) == 2
    # and what a crew sweeps, in words: five pipes within 300 m of p654, 93 % of the likelihood
    assert page.inner_text("#survey") == (
        "Survey area within 300 m of pipe p654: 5 pipes, together 93.0% of the likelihood")
    # and where temporary loggers would tell its pipes apart
    assert page.inner_text("#loggers") == (
        "Temporary pressure loggers at nodes n611, n609 would best tell the area's pipes apart: 9 pairs of them "
        "look alike to the sensors, 4 with the loggers.")
    assert int(page.get_attribute("#network-map", "data-loggers")) == 2  # and marks them on the map
    assert len(page.query_selector_all("#network-map path.logger")) == 2
    assert [r.get_attribute("data-pipe") for r in page.query_selector_all("#candidates tr[data-pipe]")] == [
        "p654", "p653", "p655"]
    # once the loggers are in: the area's pipes ranked again from measured against modelled pressures
    assert page.inner_text("#logger-survey") == (
        "With loggers at nodes n611, n609, 3 whole days from 2026-10-05 to 2026-10-07, measured against modelled "
        "pressures rank the area's pipes:")
    assert [r.get_attribute("data-pipe") for r in page.query_selector_all("#survey-candidates tr[data-pipe]")] == [
        "p654", "p655", "p653"]
    assert page.inner_text("#map-title") == "Candidate pipes after the logger survey"  # the map shows those
    shot(page, "leak-alarm")


def test_allocation_view_shows_plans_ledger_and_flagged_users(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "view", "/allocation")
    view = api(page, "/api/v1/allocation/view")
    assert [p["scenario"] for p in view["plans"]] == ["normal", "drought"]
    assert page.get_attribute("#ledger-status", "data-ok") == "true"
    assert len(page.query_selector_all("#coverage thead th")) == 2 + 2
    for row in page.query_selector_all("#coverage tr[data-user]"):
        user = row.get_attribute("data-user")
        cells = row.query_selector_all("td[data-coverage]")
        assert [float(c.get_attribute("data-coverage")) for c in cells] == pytest.approx(
            [p["users"][user]["coverage"] for p in view["plans"]])
    flagged = {r.get_attribute("data-user"): r.get_attribute("data-flag")
               for r in page.query_selector_all("#delivery-audit tr.flagged")}
    assert flagged.get(FAVOURED) == "over"
    assert FAVOURED in page.inner_text("#transfers")
    shot(page, "allocation")


def test_sector_tiles_and_the_wall_screen(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "view", "/sectors")
    tiles = api(page, "/api/v1/sectors")
    shown = page.query_selector_all("#sector-tiles li[data-indicator]")
    assert [t.get_attribute("data-indicator") for t in shown] == [t["indicator"] for t in tiles]
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(panel.url + "/?kiosk=1&rotate=20")
    assert page.query_selector("body.kiosk") is not None
    assert not page.is_visible("header nav")
    refresh = page.get_attribute("meta[http-equiv=refresh]", "content")
    assert refresh == "20; url=/alarms?kiosk=1&rotate=20"
    page.wait_for_function("document.getElementById('country-map').dataset.features")
    shot(page, "wall-1920x1080")
    page.set_viewport_size({"width": 1366, "height": 768})


def test_roles_and_scopes_decide_what_a_view_shows(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "ana")
    assert {r.get_attribute("data-utility") for r in page.query_selector_all("#zone-table tr[data-zone]")} == {
        "ltown"}
    r = page.request.get(panel.url + "/api/v1/utilities/capital/zones/NORTH/panel")
    assert r.status == 403
    assert page.goto(panel.url + "/utilities/capital/zones/NORTH").status == 403
    page.goto(panel.url + "/alarms")
    assert page.query_selector("button.ack") is None
    assert {c.inner_text().split(" /")[0] for c in page.query_selector_all("#alarm-table td:nth-child(4)")} == {
        "ltown"}


def test_languages_switch_text_numbers_and_dates(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "view")
    nrw = api(page, "/api/v1/overview")["headline"]["nrw_pct"]
    page.goto(panel.url + "/?lang=ru")
    assert page.get_attribute("html", "lang") == "ru"
    assert page.inner_text("h1").startswith("Обзор по стране")
    assert "4 окт. 2026" in page.inner_text("h1")
    assert page.inner_text("[data-key=nrw_pct] .value") == f"{nrw:.1f}".replace(".", ",") + "\u00a0%"
    page.goto(panel.url + "/alarms")  # the choice is kept in a cookie
    assert page.inner_text("h1") == "Тревоги"
    page.goto(panel.url + "/?lang=az")
    assert page.inner_text("h1").startswith("Ölkə üzrə icmal")
    assert page.inner_text("[data-key=nrw_pct] .value") == f"{nrw:.1f}".replace(".", ",") + "%"
    shot(page, "overview-az")
    page.goto(panel.url + "/?lang=en")


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_views_fit_the_screen_and_pass_axe(page, panel, size) -> None:  # noqa: ANN001
    """No horizontal scrolling, headings and maps visible, and no WCAG 2.1 AA violation (axe-core), per view."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    login(page, panel, "ops")
    leak = next(a["alarm_id"] for a in api(page, "/api/v1/alarms?kind=leak"))
    for path in [*VIEWS, f"/alarms/{leak}"]:
        page.goto(panel.url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {size}"
        assert page.is_visible("h1") and page.is_visible("header")
        if page.query_selector(".map"):
            assert page.is_visible(".map")
        violations = axe_violations(page) if size == (1366, 768) else []
        assert violations == [], f"{path}: {violations}"
        if size == (1920, 1080) or path in ("/utilities/ltown",):
            shot(page, f"{path.strip('/').replace('/', '-') or 'overview'}-{size[0]}x{size[1]}")


def test_keyboard_reaches_every_control(page, panel) -> None:  # noqa: ANN001
    login(page, panel, "ops", "/alarms?status=open")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("(e => e.id || e.getAttribute('href') || e.className)(document.activeElement)"))
    assert "/" in seen and "/allocation" in seen and "lang" in seen and "logout" in seen
    assert "f-kind" in seen and "f-status" in seen
    assert "ack" in seen  # an acknowledge button
    # acknowledge from the keyboard
    button = page.query_selector("button.ack")
    alarm_id = button.get_attribute("data-alarm")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#alarm-{alarm_id}[data-status=acknowledged]")
