"""From Sentinel-2 scenes to crop-type maps: scene inputs, the dataset's encoding per window,
blending of overlapping windows, and the map's GeoTIFFs."""
