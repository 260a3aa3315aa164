"""Network registry: EPANET import through WNTR, zones (DMAs), sensors and meters, GeoJSON for the map."""
