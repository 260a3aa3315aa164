// Suvar panel: plain JavaScript over the JSON API; the map uses the network's own planar coordinates.
const api = (path) => fetch(path).then((r) => { if (!r.ok) throw new Error(path + ": " + r.status); return r.json(); });
const map = L.map("map", { crs: L.CRS.Simple, minZoom: -6, zoomSnap: 0.25 });
let layer = null;
const zoneColours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

function fillTable(id, rows, cells) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    for (const c of cells(r)) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

async function showUtility(id) {
  const [geo, zones] = await Promise.all([api(`/api/v1/utilities/${id}/network.geojson`), api(`/api/v1/utilities/${id}/zones`)]);
  const colour = Object.fromEntries(zones.map((z, i) => [z.zone_id, zoneColours[i % zoneColours.length]]));
  if (layer) layer.remove();
  layer = L.geoJSON(geo, {
    coordsToLatLng: (c) => L.latLng(c[1], c[0]),
    filter: (f) => f.properties.layer !== "node",
    style: (f) => f.properties.layer === "zone"
      ? { color: colour[f.properties.id], weight: 1, fillOpacity: 0.08 }
      : { color: colour[f.properties.zone] || "#555", weight: 1.5 },
    pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 4, color: "#000", weight: 1, fillColor: "#ffd400", fillOpacity: 1 }),
    onEachFeature: (f, l) => l.bindTooltip(`${f.properties.layer} ${f.properties.id}`),
  }).addTo(map);
  map.fitBounds(layer.getBounds());
  fillTable("zones", zones, (z) => [z.zone_id, z.node_count, z.mains_length_km.toFixed(1)]);
}

async function init() {
  const [utilities, health, quarantine, alarms] = await Promise.all([api("/api/v1/utilities"), api("/api/v1/health"),
    api("/api/v1/quarantine?limit=20"), api("/api/v1/alarms?status=open")]);
  fillTable("alarms", alarms, (a) => [a.kind, a.severity, a.title]);
  document.getElementById("health").textContent = `${health.readings.toLocaleString()} readings stored`;
  const select = document.getElementById("utility");
  select.replaceChildren(...utilities.map((u) => new Option(u.name, u.utility_id)));
  select.onchange = () => showUtility(select.value);
  fillTable("quarantine", quarantine, (q) => [q.reason, q.source, q.position]);
  if (utilities.length) await showUtility(utilities[0].utility_id);
}
init().catch((e) => { document.getElementById("health").textContent = "error: " + e.message; });
