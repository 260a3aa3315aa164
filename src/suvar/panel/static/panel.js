// Suvar panel: light JavaScript over server-rendered pages. Maps use Leaflet in the networks' own planar
// coordinates (no tile server); charts use uPlot. Numbers and dates are formatted with Intl in the page's locale.
"use strict";
const Suvar = (() => {
  const T = JSON.parse(document.getElementById("i18n").textContent);
  const locale = T.locale;
  const STATUS = { ok: "#2da44e", warning: "#bf8700", critical: "#cf222e", unknown: "#6e7781", info: "#0969da" };
  const ZONES = ["#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#17becf"];
  const api = (path, opts) => fetch(path, { credentials: "same-origin", ...opts }).then((r) => {
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  });
  const num = (digits) => new Intl.NumberFormat(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const dateFmt = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", timeZone: "UTC" });
  const hourFmt = new Intl.DateTimeFormat(locale, { day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const timeFmt = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

  function flatMap(id) {
    return L.map(id, { crs: L.CRS.Simple, minZoom: -8, zoomSnap: 0.25, attributionControl: true });
  }
  const toLatLng = (c) => L.latLng(c[1], c[0]);

  async function countryMap(id) {
    const geo = await api("/api/v1/overview/map.geojson");
    const map = flatMap(id);
    const layer = L.geoJSON(geo, {
      coordsToLatLng: toLatLng,
      style: (f) => ({ color: "#24292f", weight: 1, fillColor: STATUS[f.properties.status] || STATUS.unknown, fillOpacity: 0.75 }),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(p.layer === "zone" ? p.zone_id : p.name, { permanent: true, direction: "center", className: "map-label" });
        l.on("click", () => { location.href = p.layer === "zone" ? `/utilities/${p.utility_id}/zones/${p.zone_id}` : "/allocation"; });
      },
    }).addTo(map);
    const groups = {};
    layer.eachLayer((l) => { if (l.feature.properties.layer === "zone") (groups[l.feature.properties.name] ||= []).push(l); });
    for (const [name, ls] of Object.entries(groups)) {
      const b = L.featureGroup(ls).getBounds();
      L.tooltip({ permanent: true, direction: "top", className: "map-label utility-label" })
        .setLatLng([b.getNorth(), (b.getWest() + b.getEast()) / 2]).setContent(name).addTo(map);
    }
    if (geo.features.length) map.fitBounds(layer.getBounds(), { padding: [30, 30] });
    document.getElementById(id).dataset.features = String(geo.features.length);
    return map;
  }

  async function networkMap(id, utility, zone, candidates, area, loggers) {
    const el = document.getElementById(id);
    const geo = await api(`/api/v1/utilities/${encodeURIComponent(utility)}/network.geojson`);
    const zones = [...new Set(geo.features.filter((f) => f.properties.layer === "zone").map((f) => f.properties.id))].sort();
    const colour = Object.fromEntries(zones.map((z, i) => [z, ZONES[i % ZONES.length]]));
    const hot = new Set(candidates || []);
    const map = flatMap(id);
    const base = L.geoJSON(geo, {
      coordsToLatLng: toLatLng,
      filter: (f) => f.properties.layer === "zone" || f.properties.layer === "link",
      style: (f) => {
        const p = f.properties;
        if (p.layer === "zone") return { color: colour[p.id], weight: p.id === zone ? 3 : 1, fillOpacity: p.id === zone ? 0.12 : 0.04 };
        const dim = zone && p.zone !== zone;
        return { color: colour[p.zone] || "#57606a", weight: 1.5, opacity: dim ? 0.35 : 0.9 };
      },
      onEachFeature: (f, l) => l.bindTooltip(`${f.properties.layer === "zone" ? "zone" : "pipe"} ${f.properties.id}`),
    }).addTo(map);
    const sensors = L.geoJSON(geo, {
      coordsToLatLng: toLatLng,
      filter: (f) => f.properties.layer === "sensor",
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 3.5, color: "#24292f", weight: 1, fillColor: "#ffd33d", fillOpacity: 1 }),
      onEachFeature: (f, l) => l.bindTooltip(`${f.properties.id} (${f.properties.kind})`),
    }).addTo(map);
    let highlighted = 0;
    let surveyed = 0;
    const sweep = new Set((area || []).filter((p) => !hot.has(p)));
    const focus = L.featureGroup().addTo(map);
    if (sweep.size) {  // the survey area around the pipe named, under the candidates
      L.geoJSON(geo, {
        coordsToLatLng: toLatLng,
        filter: (f) => f.properties.layer === "link" && sweep.has(String(f.properties.id)),
        style: () => ({ color: "#fb8f44", weight: 5, opacity: 0.8, className: "area" }),
        onEachFeature: (f, l) => { surveyed += 1; l.bindTooltip(`pipe ${f.properties.id}`); },
      }).addTo(focus);
    }
    if (hot.size) {
      L.geoJSON(geo, {
        coordsToLatLng: toLatLng,
        filter: (f) => f.properties.layer === "link" && hot.has(String(f.properties.id)),
        style: () => ({ color: "#cf222e", weight: 7, opacity: 0.9, className: "candidate" }),
        onEachFeature: (f, l) => {
          highlighted += 1;
          l.bindTooltip(`pipe ${f.properties.id}`, { permanent: candidates.indexOf(String(f.properties.id)) < 3 });
        },
      }).addTo(focus);
    }
    const sites = new Set(loggers || []);
    let placed = 0;
    if (sites.size) {  // junctions for temporary pressure loggers in the survey area
      L.geoJSON(geo, {
        coordsToLatLng: toLatLng,
        filter: (f) => f.properties.layer === "node" && sites.has(String(f.properties.id)),
        pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 7, color: "#0a3069", weight: 2, fillColor: "#54aeff", fillOpacity: 1, className: "logger" }),
        onEachFeature: (f, l) => { placed += 1; l.bindTooltip(`${T.loggerSite} ${f.properties.id}`); },
      }).addTo(focus);
    }
    if (highlighted || surveyed) { map.fitBounds(focus.getBounds().pad(0.6)); }
    if (!highlighted && !surveyed) {
      const zoneLayer = zone && base.getLayers().find((l) => l.feature.properties.layer === "zone" && l.feature.properties.id === zone);
      map.fitBounds((zoneLayer || base).getBounds(), { padding: [10, 10] });
    }
    el.dataset.pipes = String(geo.features.filter((f) => f.properties.layer === "link").length);
    el.dataset.sensors = String(sensors.getLayers().length);
    el.dataset.candidates = String(highlighted);
    el.dataset.area = String(surveyed);
    el.dataset.loggers = String(placed);
    return map;
  }

  function chart(id, xs, series, stepped) {
    const el = document.getElementById(id);
    if (!xs.length) { el.textContent = T.noData; el.dataset.points = "0"; return null; }
    const n = num(1);
    const width = Math.max(280, el.clientWidth || 480);
    const opts = {
      width, height: 220,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [
        { space: 90, size: 36, ...(stepped ? { incrs: [86400, 2 * 86400, 7 * 86400, 30 * 86400] } : {}),
          values: (u, vals, ax, space, incr) => vals.map((v) => (incr >= 86400 ? dateFmt : hourFmt).format(new Date(v * 1000))) },
        { values: (u, vals) => vals.map((v) => n.format(v)), size: 56 },
      ],
      series: [{ label: T.time, value: (u, v) => (v == null ? "–" : timeFmt.format(new Date(v * 1000))) },
        ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, value: (u, v) => (v == null ? "–" : n.format(v)) }))],
    };
    const plot = new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
    el.dataset.points = String(xs.length);
    return plot;
  }

  function zonePage() {
    const data = JSON.parse(document.getElementById("zone-data").textContent);
    networkMap("network-map", data.utility, data.zone, []);
    chart("chart-pressure", data.series.pressure.ts, [{ label: T.pressure, colour: "#0969da", values: data.series.pressure.value }]);
    chart("chart-flow", data.series.flow.ts, [{ label: T.flow, colour: "#1a7f37", values: data.series.flow.value }]);
    const nights = data.night.filter((r) => r.mnf_m3h != null);
    const xs = nights.map((r) => Date.parse(r.date + "T00:00:00Z") / 1000);
    chart("chart-night", xs, [
      { label: T.mnf, colour: "#0969da", values: nights.map((r) => r.mnf_m3h) },
      { label: T.lnu, colour: "#8250df", values: nights.map((r) => r.legitimate_night_use_m3h) },
      { label: T.nnf, colour: "#cf222e", values: nights.map((r) => r.net_night_flow_m3h) },
    ], true);
  }

  function alarmButtons() {
    for (const b of document.querySelectorAll("button.ack")) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        const id = b.dataset.alarm;
        const status = document.getElementById("alarm-count") || document.querySelector(".status");
        try {
          const row = await api(`/api/v1/alarms/${id}/ack`, { method: "POST" });
          const holder = document.getElementById(`alarm-${id}`) || document.getElementById("alarm-detail");
          holder.dataset.status = row.status;
          holder.querySelector(".status").textContent = `${T.acknowledged} (${row.acknowledged_by})`;
          b.remove();
        } catch (e) {
          b.disabled = false;
          if (status) status.textContent = `${T.ackFailed}: ${e.message}`;
        }
      });
    }
  }

  function loginForm() {
    const form = document.getElementById("login");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { username: form.username.value, password: form.password.value };
      if (form.totp.value) body.totp = form.totp.value;
      const r = await fetch("/api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
      if (r.ok) { location.href = form.dataset.next || "/"; return; }
      document.getElementById("login-error").hidden = false;
    });
  }

  const lang = document.getElementById("lang");
  if (lang) lang.addEventListener("change", () => lang.form.submit());

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin" });
      location.href = "/login";
    });
  }
  return { countryMap, networkMap, zonePage, alarmButtons, loginForm, chart };
})();
