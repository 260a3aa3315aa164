"""Smart agriculture and drought analyses (pure functions over pandas/numpy objects).

Owns:

- :mod:`suvar.agri.et0` -- reference evapotranspiration ET0 by FAO-56 Penman-Monteith (daily, monthly,
  hourly), with FAO-56's own estimates for missing humidity, radiation and wind, flagged per row;
- :mod:`suvar.agri.crops` -- the FAO-56 crop table (Tables 11 and 12, FAO-33 Ky) and the single crop
  coefficient curve (FAO-56 Eqs. 62, 65, 66);
- :mod:`suvar.agri.irrigation` -- crop water requirement, effective rainfall, net/gross irrigation and the
  daily demand series of an irrigation district (``district_demand_m3_per_day``);
- :mod:`suvar.agri.yield_response` -- yield response to water (FAO-33 Ky) and revenue impact of a shortfall;
- :mod:`suvar.agri.drought` -- SPI/SPEI (``climate-indices``), WMO classes, McKee run events, basin
  status and inflow scenarios for allocation;
- :mod:`suvar.agri.weather` -- a seeded synthetic daily weather record for a semi-arid lowland;
- :mod:`suvar.agri.cli` -- the ``suvar agri`` command line.

Sources: Allen R.G., Pereira L.S., Raes D., Smith M. (1998) *Crop evapotranspiration*, FAO Irrigation and
Drainage Paper 56 (FAO-56); Doorenbos J., Kassam A.H. (1979) *Yield response to water*, FAO Irrigation and
Drainage Paper 33 (FAO-33); WMO (2012) *Standardized Precipitation Index User Guide*, WMO-No. 1090;
McKee T.B., Doesken N.J., Kleist J. (1993) 8th Conf. on Applied Climatology, 179-184.
"""
