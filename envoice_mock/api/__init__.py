"""The web layer: route table to Starlette routes, codecs, faults, control plane, pages, dashboard."""
